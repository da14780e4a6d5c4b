package collector

// Regenerate with `make bpf` (Debian clang 14, libbpf-dev): the generated .o
// and .go are committed, so building needs no clang.
//go:generate go tool bpf2go -cc clang -target amd64 -type event -type exec_event -type window bpf sysenter.c -- -O2 -g -Wall -I/usr/include/x86_64-linux-gnu
