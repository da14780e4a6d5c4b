//go:build ignore

// sys_enter: one ring-buffer record per system call of a monitored cgroup.
// Monitoring is opt-in per cgroup (the monitored map), so the agent's own
// syscalls and the rest of the node cost one map lookup each and nothing more.

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NR_EXECVE 59
#define NR_EXECVEAT 322
#define PATH_LEN 128
#define WAKEUP_BYTES (1 << 20)

// x86_64 struct pt_regs: offsets of the first two syscall arguments. Written
// out because the BPF target has no pt_regs of its own.
#define PT_REGS_DI 112
#define PT_REGS_SI 104

struct event {
	__u64 ktime_ns;
	__u64 cgroup_id;
	__u32 pid; // thread-group id, as user space sees it
	__u32 nr;
	__u32 tid; // the thread: windows are cut per thread, whose calls interleave
	__u32 pad;
};

// The agent's own process, set at load: never recorded, even if it runs in a
// monitored cgroup (its reading of the ring buffer would feed itself).
const volatile __u32 self_tgid = 0;

struct exec_event {
	struct event hdr;
	char path[PATH_LEN];
};

// Keep both record layouts in BTF for bpf2go's -type.
const struct exec_event *unused_exec_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} monitored SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);
	if (n)
		(*n)++;
}

// Wake the reader only once a batch is queued: a wake-up per event costs
// more than the event. The reader polls with a short deadline for the rest.
static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline int emit_exec(struct bpf_raw_tracepoint_args *ctx, __u64 cgid, __u64 id, __u32 nr)
{
	struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	e->hdr.ktime_ns = bpf_ktime_get_ns();
	e->hdr.cgroup_id = cgid;
	e->hdr.pid = id >> 32;
	e->hdr.tid = (__u32)id;
	e->hdr.pad = 0;
	e->hdr.nr = nr;
	e->path[0] = 0;
	const char *filename = 0;
	void *regs = (void *)ctx->args[0];
	bpf_probe_read_kernel(&filename, sizeof(filename), regs + (nr == NR_EXECVE ? PT_REGS_DI : PT_REGS_SI));
	if (filename)
		bpf_probe_read_user_str(e->path, sizeof(e->path), filename);
	// An exec is rare and decisive: hand it over at once.
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&monitored, &cgid))
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) == self_tgid)
		return 0;
	__u32 nr = (__u32)ctx->args[1];
	if (nr == NR_EXECVE || nr == NR_EXECVEAT)
		return emit_exec(ctx, cgid, id, nr);

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	e->ktime_ns = bpf_ktime_get_ns();
	e->cgroup_id = cgid;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->pad = 0;
	e->nr = nr;
	bpf_ringbuf_submit(e, wakeup_flags());
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
