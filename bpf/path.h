/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Names the kernel keeps as chains of nodes: what a descriptor refers to,
 * walked up its dentries and mounts to the root of the mount namespace
 * (put_fd, put_file), and the task's cgroup path (put_cgroup). Bounded
 * loops that only chase pointers, or only copy names, so that the
 * verifier's work stays linear in the bound.
 */
#ifndef CTRACE_PATH_H
#define CTRACE_PATH_H

#include "record.h"

#define NSFS_MAGIC_ 0x6e736673 /* include/uapi/linux/magic.h */

/* The one name a file without a path is shown by, as /proc/PID/fd shows
 * it: an nsfs file's namespace type (net:[ino]), or the name a dentry makes
 * up (d_dname: anon inodes, pipes, sockets). False for files with a path. */
static __always_inline bool pseudo_name(struct inode *inode, __u32 magic, struct dentry *d,
					const unsigned char **name)
{
	if (magic == NSFS_MAGIC_) {
		struct ns_common *ns = BPF_CORE_READ(inode, i_private);

		*name = (const unsigned char *)BPF_CORE_READ(ns, ops, name);
		return true;
	}
	if (BPF_CORE_READ(d, d_op, d_dname)) {
		*name = BPF_CORE_READ(d, d_name.name);
		return true;
	}
	return false;
}

/* Follows d up to the root of its mount namespace, crossing mount points,
 * and keeps the names on the way in walk->names, leaf first. Only chases
 * pointers: copy_names() copies. Loop-carried counts live in map memory
 * rather than registers, which keeps the verifier's work linear. */
static __always_inline void walk_path(struct walk *walk, struct dentry *d, struct vfsmount *vm,
				      __u8 *flags)
{
	struct mount *mnt = (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
	int i;

	walk->len = 0;
	for (i = 0; i < CTRACE_PATH_DEPTH; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);

		if (d == BPF_CORE_READ(vm, mnt_root) || d == parent) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (up == mnt || !up)
				break; /* the root of the mount namespace */
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vm = (struct vfsmount *)((void *)up + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		walk->names[walk->len & (CTRACE_PATH_DEPTH - 1)] = (__u64)BPF_CORE_READ(d, d_name.name);
		walk->len++;
		d = parent;
	}
	if (i == CTRACE_PATH_DEPTH)
		*flags |= CTRACE_FIELD_TRUNCATED;
}

/* Copies the names walk_path() kept to start, each with its NUL; returns
 * their bytes, and their number in walk->ncomp. */
static __always_inline __u32 copy_names(struct ctrace_buf *b, __u32 start, struct walk *walk,
					__u8 *flags)
{
	int i;

	walk->pos = 0;
	walk->ncomp = 0;
	for (i = 0; i < CTRACE_PATH_DEPTH; i++) {
		__u32 at = walk->pos;
		long n;

		if (i >= walk->len)
			break;
		if (at > CTRACE_STR_MAX) {
			*flags |= CTRACE_FIELD_TRUNCATED;
			break;
		}
		n = bpf_probe_read_kernel_str(&b->data[(start + at) & (CTRACE_DATA_MAX - 1)],
					      CTRACE_NAME_MAX, (const void *)walk->names[i]);
		if (n <= 0) {
			*flags |= CTRACE_FIELD_FAULT;
			break;
		}
		walk->pos = at + n;
		walk->ncomp++;
	}
	return walk->pos;
}

/*
 * What a struct file refers to, as d_path() would put it: the dentry names
 * from the file up to the root of its mount namespace, crossing mount
 * points, leaf first. Pseudo files (anon inodes, pipes, sockets) and nsfs
 * files carry the one name user space needs to print them as strace -y does.
 * The walk takes no locks: a rename racing with it may show a mixed path.
 */
static __noinline __u32 put_file(struct ctrace_buf *b, __u32 off, __u8 arg,
				 struct file *file, __u8 flags)
{
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	const unsigned char *name = NULL;
	struct ctrace_file *cf;
	struct walk *walk;
	__u32 start, pos = 0, zero = 0;

	if (!file || !reserve(&off, sizeof(*cf) + CTRACE_STR_MAX + CTRACE_NAME_MAX))
		return off;
	cf = (struct ctrace_file *)field_data(b, off);
	cf->ino = BPF_CORE_READ(inode, i_ino);
	cf->magic = BPF_CORE_READ(inode, i_sb, s_magic);
	cf->flags = 0;
	cf->ncomp = 0;
	start = off + sizeof(struct ctrace_field) + sizeof(*cf);
	if (pseudo_name(inode, cf->magic, d, &name)) {
		cf->flags = CTRACE_FILE_PSEUDO;
		if (name) {
			long n = bpf_probe_read_kernel_str(&b->data[start & (CTRACE_DATA_MAX - 1)],
							   CTRACE_NAME_MAX, name);
			if (n > 0) {
				pos = n;
				cf->ncomp = 1;
			}
		}
	} else {
		walk = bpf_map_lookup_elem(&walks, &zero);
		if (!walk)
			return off;
		walk_path(walk, d, BPF_CORE_READ(file, f_path.mnt), &flags);
		pos = copy_names(b, start, walk, &flags);
		cf->ncomp = walk->ncomp;
	}
	return close_field(b, off, arg, CTRACE_FIELD_FILE, flags,
			   (sizeof(*cf) + pos) & (2 * CTRACE_DATA_MAX - 1));
}

static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_core_read(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline __u32 put_fd(struct ctrace_buf *b, __u32 off, __u8 arg, __u64 fd)
{
	/* AT_FDCWD and other negative values name no file. */
	if ((int)fd < 0)
		return off;
	return put_file(b, off, arg, fd_file((int)fd), 0);
}

/* Kernels before 6.15 name a kernfs node's parent "parent". */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

/* The task's cgroup v2 path, leaf first: what tells a container's processes
 * apart after they are gone (containerd names the leaf after the container). */
static __noinline __u32 put_cgroup(struct ctrace_buf *b, __u32 off)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct kernfs_node *kn = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
	__u32 start, pos = 0;
	__u8 flags = 0;
	int i;

	if (!reserve(&off, CTRACE_CGROUP_DEPTH * CTRACE_NAME_MAX))
		return off;
	start = off + sizeof(struct ctrace_field);
	for (i = 0; i < CTRACE_CGROUP_DEPTH; i++) {
		struct kernfs_node *parent = kn_parent(kn);
		long n;

		if (!kn || !parent)
			break; /* the root's name is not part of the path */
		n = bpf_probe_read_kernel_str(&b->data[(start + pos) & (CTRACE_DATA_MAX - 1)],
					      CTRACE_NAME_MAX, BPF_CORE_READ(kn, name));
		if (n <= 0) {
			flags |= CTRACE_FIELD_FAULT;
			break;
		}
		pos += n & (CTRACE_NAME_MAX - 1);
		kn = parent;
	}
	if (i == CTRACE_CGROUP_DEPTH && kn && kn_parent(kn))
		flags |= CTRACE_FIELD_TRUNCATED;
	if (pos == 0 && !flags)
		return off; /* the root cgroup */
	return close_field(b, off, CTRACE_ARG_NONE, CTRACE_FIELD_CGROUP, flags,
			   pos & (2 * CTRACE_DATA_MAX - 1));
}

#endif /* CTRACE_PATH_H */
