// rtvirtio's observer: per-cgroup, per-op latency histograms of the requests
// of one block device, from their making (the block layer's start_time_ns, just
// before insertion into the I/O scheduler; else their insertion, or their issue
// when they bypass it) to their completion. CO-RE: the few kernel
// types it reads are declared below with preserve_access_index, so libbpf
// relocates the field offsets against the running kernel's BTF.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "observer_shared.h"

struct kernfs_node { __u64 id; } __attribute__((preserve_access_index));
struct cgroup { struct kernfs_node *kn; } __attribute__((preserve_access_index));
struct cgroup_subsys_state { struct cgroup *cgroup; } __attribute__((preserve_access_index));
struct blkcg { struct cgroup_subsys_state css; } __attribute__((preserve_access_index));
struct blkcg_gq { struct blkcg *blkcg; } __attribute__((preserve_access_index));
struct bio { struct blkcg_gq *bi_blkg; } __attribute__((preserve_access_index));
struct gendisk { int major; int first_minor; } __attribute__((preserve_access_index));
struct request_queue { struct gendisk *disk; } __attribute__((preserve_access_index));
struct request {
    struct request_queue *q;
    unsigned int cmd_flags;
    struct bio *bio;
    unsigned int __data_len;
    __u64 start_time_ns;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

// [0] = the device's major, [1] = its first minor, [2] = 1 where every request of the
// device carries the block layer's start_time_ns (queue/iostats on): then only the
// completion hook is attached, with no map of requests in flight. Set before attaching.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 3);
    __type(key, __u32);
    __type(value, __u32);
} rtv_config SEC(".maps");

struct start { __u64 ns; __u64 cgroup_id; __u32 op; __u32 pad; };

// requests in flight, by address
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct start);
} rtv_start SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, RTV_MAX_KEYS);
    __type(key, struct rtv_key);
    __type(value, struct rtv_hist);
} rtv_hists SEC(".maps");

// one zeroed histogram to create entries from (too large for the BPF stack)
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct rtv_hist);
} rtv_zero SEC(".maps");

// requests whose histogram could not be created (map full): reported, never silent
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} rtv_dropped SEC(".maps");

static __always_inline int on_device(struct request *rq) {
    __u32 k0 = 0, k1 = 1;
    __u32 *major = bpf_map_lookup_elem(&rtv_config, &k0), *minor = bpf_map_lookup_elem(&rtv_config, &k1);
    if (!major || !minor) return 0;
    struct gendisk *disk = BPF_CORE_READ(rq, q, disk);
    if (!disk) return 0;
    return BPF_CORE_READ(disk, major) == (int)*major && BPF_CORE_READ(disk, first_minor) == (int)*minor;
}

static __always_inline __u32 op_of(struct request *rq);

static __always_inline void remember(struct request *rq, __u64 flags) {
    __u64 key = (__u64)rq;
    if (!on_device(rq)) return;
    struct start s = {};
    s.ns = bpf_ktime_get_ns();
    s.cgroup_id = BPF_CORE_READ(rq, bio, bi_blkg, blkcg, css.cgroup, kn, id);
    s.op = op_of(rq);
    bpf_map_update_elem(&rtv_start, &key, &s, flags);
}

// Insertion starts a request's life in the scheduler: always a fresh entry (a request's
// memory is reused, and an older entry at the same address must never date a new one).
SEC("tp_btf/block_rq_insert")
int BPF_PROG(rtv_insert, struct request *rq) { remember(rq, BPF_ANY); return 0; }

// Issued without insertion (no scheduler, or a direct issue): start here; inserted before: keep that.
SEC("tp_btf/block_rq_issue")
int BPF_PROG(rtv_issue, struct request *rq) { remember(rq, BPF_NOEXIST); return 0; }

// A request merged into another never completes on its own: forget it.
SEC("tp_btf/block_rq_merge")
int BPF_PROG(rtv_merge, struct request *rq) {
    __u64 key = (__u64)rq;
    bpf_map_delete_elem(&rtv_start, &key);
    return 0;
}

static __always_inline __u32 bucket(__u64 ns) {
    if (ns < 2 * RTV_SUB_BUCKETS) return (__u32)ns;
    __u32 msb = 63 - __builtin_clzll(ns);
    __u32 e = msb - RTV_SUB_BITS;
    __u64 index = (__u64)RTV_SUB_BUCKETS * e + (ns >> e);
    return index < RTV_BUCKETS ? (__u32)index : RTV_BUCKETS - 1;
}

// a request that could not be counted: reported, never silent
static __always_inline void drop(void) {
    __u32 zero = 0;
    __u64 *dropped = bpf_map_lookup_elem(&rtv_dropped, &zero);
    if (dropped) __sync_fetch_and_add(dropped, 1);
}

static __always_inline void count(struct rtv_key *key, __u64 ns) {
    struct rtv_hist *h = bpf_map_lookup_elem(&rtv_hists, key);
    __u32 zero = 0;
    if (!h) {
        struct rtv_hist *empty = bpf_map_lookup_elem(&rtv_zero, &zero);
        if (!empty) return;
        bpf_map_update_elem(&rtv_hists, key, empty, BPF_NOEXIST);
        h = bpf_map_lookup_elem(&rtv_hists, key);
    }
    if (!h) { drop(); return; }
    __u32 index = bucket(ns);
    if (index >= RTV_BUCKETS) return;
    __sync_fetch_and_add(&h->slots[index], 1);
}

static __always_inline __u32 op_of(struct request *rq) {
    __u32 op = BPF_CORE_READ(rq, cmd_flags) & 0xff;
    return op == 0 ? RTV_OP_READ : op == 1 ? RTV_OP_WRITE : RTV_OP_OTHER;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(rtv_complete, struct request *rq, int error, unsigned int nr_bytes) {
    __u64 now = bpf_ktime_get_ns();
    __u32 k2 = 2;
    __u32 *stamped = bpf_map_lookup_elem(&rtv_config, &k2);
    if (stamped && *stamped && bpf_core_field_exists(rq->start_time_ns)) {
        // every request carries its start: read it all from the request, once, at its last completion
        if (!on_device(rq)) return 0;
        if (nr_bytes < BPF_CORE_READ(rq, __data_len)) return 0;   // a partial completion; the rest follows
        __u64 stamp = BPF_CORE_READ(rq, start_time_ns);
        if (stamp == 0 || stamp > now) { drop(); return 0; }
        struct rtv_key key = { .cgroup_id = BPF_CORE_READ(rq, bio, bi_blkg, blkcg, css.cgroup, kn, id), .op = op_of(rq) };
        count(&key, now - stamp);
        return 0;
    }
    __u64 address = (__u64)rq;
    struct start *s = bpf_map_lookup_elem(&rtv_start, &address);
    if (!s) return 0;
    // the block layer's own stamp, set when the request was made (iostats on, or a scheduler),
    // where the kernel has it: it cannot be stale; else the insertion or issue we saw
    __u64 started = s->ns;
    if (bpf_core_field_exists(rq->start_time_ns)) {
        __u64 stamp = BPF_CORE_READ(rq, start_time_ns);
        if (stamp != 0 && stamp <= now) started = stamp;
    }
    struct rtv_key key = { .cgroup_id = s->cgroup_id, .op = s->op };
    bpf_map_delete_elem(&rtv_start, &address);
    count(&key, now > started ? now - started : 0);
    return 0;
}
