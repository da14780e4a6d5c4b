package isolate

// Regenerate with `make bpf` (Debian clang 14, libbpf-dev): the generated .o
// and .go are committed, so building needs no clang.
//go:generate go tool bpf2go -cc clang -target amd64 -type v4key -type v6key bpf connect.c -- -O2 -g -Wall -I/usr/include/x86_64-linux-gnu
