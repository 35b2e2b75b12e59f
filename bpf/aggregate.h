/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * --dedup in the kernel: a failure identical to one sent in the same
 * window is counted in repeats (maps.h) instead of sent. A failure storm
 * then costs a hash and a map lookup per call instead of a record, and
 * loses nothing at the ring buffer. User space reads each entry's count
 * once its window has ended and reports it against the record that
 * opened the entry (tracer/aggregate.go).
 *
 * Identical means what user space would show as one failure: the same
 * cgroup, comm (and process, for a container runtime process), call,
 * errno, record flags (a seccomp refusal) and, byte for byte, the same
 * fields: the arguments' strings, structs, argv and files, and the
 * capability and LSM denials found in flight. All of it is compared by
 * one 64-bit hash. A call that printed kernel log lines is
 * always sent whole (its lines went out before it), and so is a record
 * whose fields exceed AGG_BYTES_MAX. Plain register arguments (flags,
 * modes) are not part of the key, as they are not of user space's
 * (internal/dedup): registers past a call's arity hold whatever the
 * caller left there.
 */
#ifndef CTRACE_AGGREGATE_H
#define CTRACE_AGGREGATE_H

#include "record.h"

/* Bytes of fields hashed at most: a longest path and its header. */
#define AGG_BYTES_MAX (CTRACE_STR_MAX + 8)

static __always_inline __u64 agg_mix(__u64 h, __u64 w)
{
	w *= 0xff51afd7ed558ccdULL;
	w ^= w >> 32;
	h ^= w;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

/* A hash of the first len bytes of b's fields (len a multiple of 8: each
 * field is padded to 8, its padding zeroed when aggregate is set). A
 * function of its own: the verifier walks the loop once per program. */
static __noinline __u64 hash_fields(struct ctrace_buf *b, __u32 len)
{
	__u64 h = 0x9e3779b97f4a7c15ULL ^ len;
	int i;

	for (i = 0; i < AGG_BYTES_MAX / 8; i++) {
		if (i * 8 >= len)
			break;
		h = agg_mix(h, *(__u64 *)&b->data[(i * 8) & (CTRACE_DATA_MAX - 1)]);
	}
	return h;
}

/* The time of a repeat (struct agg_val's last_ns). */
static __always_inline __u64 repeat_time(void)
{
	if (agg_coarse_clock)
		return bpf_ktime_get_coarse_ns();
	return bpf_ktime_get_boot_ns();
}

/* Whether the failure in b, whose fields end at off, was counted instead
 * of sent: it is identical to the one that opened an entry of repeats in
 * this window. Otherwise the record is to be sent, and if it opened an
 * entry its agg_hash and agg_epoch say which. A full map sends records
 * whole: nothing is evicted, so no count is lost. */
static __always_inline bool counted(struct ctrace_buf *b, __u32 off, struct task_struct *t)
{
	union {
		char c[CTRACE_COMM_LEN];
		__u64 w[CTRACE_COMM_LEN / 8];
	} comm;
	struct agg_key k = {};
	struct agg_val fresh = {}, *v;
	__u32 zero = 0, tgid = 0;
	__u64 *epoch, h, cgroup_id;

	if (b->ev.nlogs || off > AGG_BYTES_MAX)
		return false;
	epoch = bpf_map_lookup_elem(&agg_epoch, &zero);
	if (!epoch)
		return false;
	/* Only what the key needs of who the task is: fill_proc() comes
	 * after, for a record that is sent. */
	if (t) {
		cgroup_id = t->cgroups->dfl_cgrp->kn->id;
		__builtin_memcpy(comm.c, t->comm, sizeof(comm.c));
	} else {
		cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(comm.c, sizeof(comm.c));
	}
	/* A runtime process's command line names its container (the
	 * shim's -id): one process's failures are not another's. */
	if (runtime_comm_is(comm.c))
		tgid = bpf_get_current_pid_tgid() >> 32;
	h = hash_fields(b, off);
	h = agg_mix(h, cgroup_id);
	h = agg_mix(h, comm.w[0]);
	h = agg_mix(h, comm.w[1]);
	h = agg_mix(h, (__u64)tgid << 32 | (__u64)b->ev.op << 16 | b->ev.flags);
	h = agg_mix(h, b->ev.ret);
	k.hash = h | 1; /* never 0: ctrace_event.agg_hash 0 says "not counted" */
	k.epoch = *epoch;
	v = bpf_map_lookup_elem(&repeats, &k);
	if (!v) {
		if (!bpf_map_update_elem(&repeats, &k, &fresh, BPF_NOEXIST)) {
			b->ev.agg_hash = k.hash;
			b->ev.agg_epoch = k.epoch;
			return false;
		}
		/* Another CPU's first came in between: count against it. A
		 * full map: send it whole. */
		v = bpf_map_lookup_elem(&repeats, &k);
		if (!v)
			return false;
	}
	__sync_fetch_and_add(&v->count, 1);
	/* Racing CPUs may leave either's time: both are of this window. */
	v->last_ns = repeat_time();
	return true;
}

#endif /* CTRACE_AGGREGATE_H */
