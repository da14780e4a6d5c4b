//go:build ignore

// sys_enter: the system calls of monitored cgroups. Monitoring is opt-in per
// cgroup (the monitored map), so the rest of the node costs one map lookup
// per call and nothing more.
//
// Two modes, chosen at load: with window_len 0, one ring-buffer record per
// call (recording); otherwise each thread's calls gather in a window in the
// kernel, handed over when full or when the thread exits: one record per
// window_len calls, two bytes a call, which is what the agent's profiles
// judge. Exec calls are also handed over at once, with their path.

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NR_EXECVE 59
#define NR_EXECVEAT 322
#define MAX_WINDOW 128

enum kind { KIND_EVENT = 0, KIND_EXEC = 1, KIND_WINDOW = 2 };
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
	__u32 kind;
};

// A window: hdr.nr holds how many calls it has, hdr.ktime_ns when it was
// handed over.
struct window {
	struct event hdr;
	__u16 calls[MAX_WINDOW];
};

// Calls per window (at most MAX_WINDOW); 0: a record per call.
const volatile __u32 window_len = 0;

// The agent's own process, set at load: never recorded, even if it runs in a
// monitored cgroup (its reading of the ring buffer would feed itself).
const volatile __u32 self_tgid = 0;

struct exec_event {
	struct event hdr;
	char path[PATH_LEN];
};

// Keep the record layouts in BTF for bpf2go's -type.
const struct exec_event *unused_exec_event __attribute__((unused));
const struct window *unused_window __attribute__((unused));

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

// The open window of each thread, removed when the thread ends (sched_exit:
// every thread passes there, killed ones too). Not an LRU hash: that evicts
// and reuses elements before it is full, under the thread that holds one.
// When full, a new thread's calls are counted as drops.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct window);
} windows SEC(".maps");

// A zero window to insert from: a window is larger than the stack allows.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct window);
} empty_window SEC(".maps");

static __always_inline void count_drops(__u64 calls)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);
	if (n)
		*n += calls;
}

static __always_inline void count_drop(void)
{
	count_drops(1);
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
	e->hdr.kind = KIND_EXEC;
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

static __always_inline void hand_over(struct window *w)
{
	w->hdr.ktime_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&events, w, sizeof(*w), wakeup_flags()))
		count_drops(w->hdr.nr);
	w->hdr.nr = 0;
}

// add_to_window appends a call to its thread's window and hands the window
// over when it is full (sched_exit hands over the last one).
static __always_inline int add_to_window(__u64 cgid, __u64 id, __u32 nr)
{
	__u32 tid = (__u32)id, zero = 0;
	struct window *w = bpf_map_lookup_elem(&windows, &tid);
	if (!w) {
		struct window *empty = bpf_map_lookup_elem(&empty_window, &zero);
		if (!empty)
			return 0;
		bpf_map_update_elem(&windows, &tid, empty, BPF_NOEXIST);
		w = bpf_map_lookup_elem(&windows, &tid);
		if (!w) {
			count_drop();
			return 0;
		}
	}
	__u32 n = w->hdr.nr;
	if (n == 0) {
		w->hdr.cgroup_id = cgid;
		w->hdr.pid = id >> 32;
		w->hdr.tid = tid;
		w->hdr.kind = KIND_WINDOW;
	}
	if (n >= MAX_WINDOW) // the verifier's bound; window_len keeps n below it
		n = MAX_WINDOW - 1;
	w->calls[n] = (__u16)nr;
	w->hdr.nr = ++n;
	if (n >= window_len)
		hand_over(w);
	return 0;
}

// end_window hands over a thread's last window and forgets the thread.
static __always_inline void end_window(__u32 tid)
{
	struct window *w = bpf_map_lookup_elem(&windows, &tid);
	if (!w)
		return;
	if (w->hdr.nr)
		hand_over(w);
	bpf_map_delete_elem(&windows, &tid);
}

// sched_process_exit runs in every task that ends, each thread of a process
// too (those killed by another's exit_group or by a signal make no call of
// their own): its last window is handed over, shorter.
SEC("raw_tracepoint/sched_process_exit")
int sched_exit(struct bpf_raw_tracepoint_args *ctx)
{
	end_window((__u32)bpf_get_current_pid_tgid());
	return 0;
}

// A thread that execs in a multi-threaded process takes over its leader's
// id (the other threads, the leader too, end): the window it kept under its
// old id is handed over here, or it would wait under an id that never ends.
SEC("raw_tracepoint/sched_process_exec")
int sched_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 old = (__u32)ctx->args[1];
	if (old != (__u32)bpf_get_current_pid_tgid())
		end_window(old);
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
		emit_exec(ctx, cgid, id, nr);
	if (window_len)
		return add_to_window(cgid, id, nr);
	if (nr == NR_EXECVE || nr == NR_EXECVEAT)
		return 0;

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	e->ktime_ns = bpf_ktime_get_ns();
	e->cgroup_id = cgid;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->kind = KIND_EVENT;
	e->nr = nr;
	bpf_ringbuf_submit(e, wakeup_flags());
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
