// Shared by the BPF program and the Swift reader: map keys, histogram layout.
#ifndef RTVIRTIO_OBSERVER_SHARED_H
#define RTVIRTIO_OBSERVER_SHARED_H

// Log-linear buckets of nanoseconds: exact below 2 x 64 ns, then 64 per
// power of two (relative width <= 1/64: a bucket's middle is within 0.8 % of
// any value in it), up to 2^37 ns (137 s); longer goes in the last bucket.
#define RTV_SUB_BITS 6
#define RTV_SUB_BUCKETS 64
#define RTV_BUCKETS 2048
#define RTV_MAX_KEYS 4096

#define RTV_OP_READ 0
#define RTV_OP_WRITE 1
#define RTV_OP_OTHER 2

struct rtv_key { __u64 cgroup_id; __u32 op; __u32 pad; };
struct rtv_hist { __u64 slots[RTV_BUCKETS]; };

#endif
