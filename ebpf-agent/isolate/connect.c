//go:build ignore

// cgroup/connect4 and cgroup/connect6: attached to a flagged container's
// cgroup, they refuse its outbound connects except to an allow list
// (address, port; port 0 allows every port of the address).

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct v4key {
	__u32 addr; // network order
	__u16 port; // host order; 0: any port
	__u16 pad;
};

struct v6key {
	__u32 addr[4]; // network order
	__u16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct v4key);
	__type(value, __u8);
} allow4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct v6key);
	__type(value, __u8);
} allow6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} denied SEC(".maps");

static __always_inline int refuse(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&denied, &zero);
	if (n)
		(*n)++;
	return 0; // EPERM to the caller
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	struct v4key k = {.addr = ctx->user_ip4, .port = bpf_ntohs((__u16)ctx->user_port)};
	if (bpf_map_lookup_elem(&allow4, &k))
		return 1;
	k.port = 0;
	if (bpf_map_lookup_elem(&allow4, &k))
		return 1;
	return refuse();
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	struct v6key k = {.port = bpf_ntohs((__u16)ctx->user_port)};
	k.addr[0] = ctx->user_ip6[0];
	k.addr[1] = ctx->user_ip6[1];
	k.addr[2] = ctx->user_ip6[2];
	k.addr[3] = ctx->user_ip6[3];
	if (bpf_map_lookup_elem(&allow6, &k))
		return 1;
	k.port = 0;
	if (bpf_map_lookup_elem(&allow6, &k))
		return 1;
	return refuse();
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
