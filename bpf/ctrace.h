/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The wire format between bpf/ctrace.bpf.c and user space, and nothing else.
 * tracer/ gets these types through bpf2go -type; never mirror them by hand.
 *
 * One record in the ring buffer is a struct ctrace_event followed by
 * ev.nfields variable-length fields. Each field is a struct ctrace_field
 * header and field.len bytes of data, padded to 8 bytes, so that records
 * carry strings whole (paths up to PATH_MAX, mount data up to a page)
 * without reserving PATH_MAX for every argument of every record.
 */
#ifndef CTRACE_H
#define CTRACE_H

#define CTRACE_COMM_LEN 16
#define CTRACE_NARGS 6

/* Longest string carried: PATH_MAX, which is also the page that
 * copy_mount_options() takes for mount(2) data. */
#define CTRACE_STR_MAX 4096
/* Bytes of a user struct carried (open_how, clone_args, mount_attr). */
#define CTRACE_STRUCT_MAX 128
/* Entries of an execve argv carried, and their total bytes. */
#define CTRACE_ARGV_MAX 32
#define CTRACE_ARGV_BYTES 4096
/* Dentries walked from a file up to the root of its mount namespace. */
#define CTRACE_PATH_DEPTH 64
/* Bytes of one path component (NAME_MAX + NUL). */
#define CTRACE_NAME_MAX 256
/* Upper bound of the fields of one record (a power of two). */
#define CTRACE_DATA_MAX 32768
/* Bytes of one kernel log line carried (printk's own limit is 1024). */
#define CTRACE_LOG_MAX 1024
/* Capability denials kept for one call, one per capability and namespace. */
#define CTRACE_CAPS_MAX 4
/* LSM hook denials kept for one call. */
#define CTRACE_LSMS_MAX 2
/* Extents of the caller's uid map carried with a capability denial. */
#define CTRACE_UID_EXTENTS 3
/* Levels of the task's cgroup path carried, from the leaf up. */
#define CTRACE_CGROUP_DEPTH 8

/* enum ctrace_op, which syscall a record is about (ctrace_event.op), is
 * generated from the table of traced syscalls in tracer/ops.go into
 * ctrace_ops.h, included here. */
#include "ctrace_ops.h"

/* What a field's data holds. */
enum ctrace_field_kind {
	CTRACE_FIELD_UNSET = 0,
	/* A NUL-free user string (the NUL is not sent). */
	CTRACE_FIELD_STR,
	/* Raw bytes of a user struct, as many as could be read. */
	CTRACE_FIELD_STRUCT,
	/* Argument strings, each followed by a NUL. */
	CTRACE_FIELD_ARGV,
	/* What a file descriptor referred to: a struct ctrace_file, then the
	 * path's components from the leaf up, each followed by a NUL. */
	CTRACE_FIELD_FILE,
	/* Like CTRACE_FIELD_FILE, for the task's current working directory
	 * (sent for relative paths with AT_FDCWD). Reserved. */
	CTRACE_FIELD_CWD,
	/* A capability check that failed during the call: a struct ctrace_cap.
	 * Not an argument: arg is CTRACE_ARG_NONE. */
	CTRACE_FIELD_CAP,
	/* The task's cgroup v2 path below the root, names from the leaf up,
	 * each followed by a NUL. arg is CTRACE_ARG_NONE. Left out once the
	 * reader has put ctrace_event.cgroup_id in the cgroups_known map: it
	 * keeps the path by id. Never sent for the root cgroup. */
	CTRACE_FIELD_CGROUP,
	/* The argument vector of a container runtime process (runc, the
	 * containerd shim), from its mm, each string followed by a NUL. arg is
	 * CTRACE_ARG_NONE. */
	CTRACE_FIELD_CMDLINE,
	/* An LSM hook that denied the call: a struct ctrace_lsm. arg is
	 * CTRACE_ARG_NONE. */
	CTRACE_FIELD_LSM,
};

/* ctrace_field.arg of fields that belong to no argument. */
#define CTRACE_ARG_NONE 0xff

/* ctrace_field.flags */
enum ctrace_field_flag {
	/* A limit cut the data short (string, argv or path depth). */
	CTRACE_FIELD_TRUNCATED = 1,
	/* User or kernel memory could not be read (e.g. a bad pointer). */
	CTRACE_FIELD_FAULT = 2,
	/* The value was taken after the call succeeded, from the new image
	 * (execve argv from mm->arg_start, the path from mm->exe_file). */
	CTRACE_FIELD_AFTER = 4,
};

/* ctrace_event.flags */
enum ctrace_event_flag {
	/* The syscall arguments could not be read from the task's registers;
	 * args[] is zero. */
	CTRACE_EV_NO_ARGS = 1,
	/* The task runs under a seccomp filter and the call reached its exit
	 * without passing its entry tracepoint: the filter rejected it before
	 * it ran. */
	CTRACE_EV_SECCOMP = 2,
};

/* The first __u16 of every ring buffer record. */
enum ctrace_record_type {
	CTRACE_REC_EVENT = 1, /* struct ctrace_event and its fields */
	CTRACE_REC_LOG = 2, /* struct ctrace_log */
};

struct ctrace_event {
	__u16 type; /* CTRACE_REC_EVENT */
	__u16 op; /* enum ctrace_op */
	__u16 flags; /* enum ctrace_event_flag */
	__u16 nfields;
	__u16 size; /* bytes of fields that follow this header */
	/* Kernel log lines the task printed during the call. They were sent
	 * as CTRACE_REC_LOG records before this one. */
	__u16 nlogs;
	__u32 pid; /* tgid */
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() at syscall exit */
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__s64 ret; /* raw return value: -errno on failure */
	__u64 args[CTRACE_NARGS]; /* raw registers of the call */
	__u32 tid;
	__u32 ppid; /* tgid of real_parent */
	__u32 uid;
	__u32 gid;
	__u32 mntns;
	__u32 pidns;
	__u32 netns;
	__u32 userns;
	char comm[CTRACE_COMM_LEN];
	/* With --dedup: nonzero when this record opened a count in the
	 * kernel, whose struct agg_key is {agg_hash, agg_epoch}: the
	 * identical failures of that window are counted, not sent. */
	__u64 agg_hash;
	__u64 agg_epoch;
};

struct ctrace_field {
	__u8 arg; /* index of the syscall argument the field belongs to */
	__u8 kind; /* enum ctrace_field_kind */
	__u8 flags; /* enum ctrace_field_flag */
	__u8 _pad;
	__u32 len; /* bytes of data that follow, before padding to 8 */
};

/* One line the kernel logged (printk) while a task was in a traced call. */
struct ctrace_log {
	__u16 type; /* CTRACE_REC_LOG */
	__u16 len; /* bytes of msg sent */
	__u32 tid;
	__u64 ts_ns;
	char msg[CTRACE_LOG_MAX];
};

struct ctrace_uid_extent {
	__u32 first; /* as in /proc/PID/uid_map: inside, outside, count */
	__u32 lower_first;
	__u32 count;
};

/* Data of a CTRACE_FIELD_CAP field. */
struct ctrace_cap {
	__u32 cap; /* CAP_* number */
	__u32 userns; /* inode of the user namespace checked against */
	__u32 userns_owner; /* uid that created it, in the initial namespace */
	__u32 userns_level; /* 0 for the initial user namespace */
	__u32 caller_userns; /* inode of the caller's own user namespace */
	__u32 nextents; /* extents in the caller's uid map (may exceed those sent) */
	struct ctrace_uid_extent extents[CTRACE_UID_EXTENTS];
};

/* The security_* hooks whose denials are recorded (fexit, where the kernel
 * allows it). */
enum ctrace_lsm_hook {
	CTRACE_LSM_UNSET = 0,
	CTRACE_LSM_SB_MOUNT,
	CTRACE_LSM_SB_UMOUNT,
	CTRACE_LSM_MOVE_MOUNT,
	CTRACE_LSM_SB_PIVOTROOT,
	CTRACE_LSM_FILE_OPEN,
	CTRACE_LSM_BPRM_CHECK,
};

/* Data of a CTRACE_FIELD_LSM field. */
struct ctrace_lsm {
	__u32 hook; /* enum ctrace_lsm_hook */
	__s32 ret; /* what the hook returned: -errno */
};

/* Head of a CTRACE_FIELD_FILE field. */
struct ctrace_file {
	__u64 ino; /* inode number */
	__u32 magic; /* super block magic: tells anon inodes, nsfs, pipes, ... */
	__u16 ncomp; /* path components that follow */
	__u16 flags; /* enum ctrace_file_flag */
};

/* ctrace_file.flags */
enum ctrace_file_flag {
	/* The one component is a name the file system makes up (d_dname:
	 * anon inodes, pipes, sockets) or, for nsfs, the namespace type. */
	CTRACE_FILE_PSEUDO = 1,
};

#endif /* CTRACE_H */
