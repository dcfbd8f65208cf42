/*
 * tsjail native plan runner: the wire format shared with src/plan/encode.ts.
 *
 * A plan is one relocatable blob: a header, an array of ops, a relocation
 * table and free data (strings, argv arrays, structs). Every op is one raw
 * syscall. Pointer arguments are blob offsets, turned into addresses by the
 * runner; the relocation table lists u64 words inside the blob that hold blob
 * offsets too (argv/envp arrays, struct members). No policy lives here: the
 * order, the arguments and which failures are tolerated all come from
 * TypeScript.
 */
#ifndef TSJAIL_H
#define TSJAIL_H

#include <stdint.h>

#define TSJ_ABI_VERSION 2
#define TSJ_PLAN_MAGIC 0x504a5354u /* "TSJP" */
#define TSJ_MAX_SLOTS 256

/* Per-argument flags: bit i marks args[i] as a blob offset (a pointer),
 * bit 8+i marks args[i] as a slot index whose saved value is passed. */
#define TSJ_ARG_PTR(i) (1u << (i))
#define TSJ_ARG_SLOT(i) (1u << (8 + (i)))
/* Bit 24+i marks args[i] as the blob offset of an int32 to pass (e.g. a
 * descriptor that recvmsg() wrote into a control buffer). */
#define TSJ_ARG_LOAD(i) (1u << (24 + (i)))

#define TSJ_F_SAVE (1u << 16)    /* save the result (or -errno) in slots[save_slot] */
#define TSJ_F_PATCH (1u << 17)   /* first write slots[patch_slot] at blob+patch_off */
#define TSJ_F_PATCH64 (1u << 18) /* the patch is 8 bytes wide (default 4) */
#define TSJ_F_EXPECT (1u << 19)  /* success only when the result equals expect */
#define TSJ_F_SOFT (1u << 20)    /* a failure is reported as a warning; go on */
#define TSJ_F_COND (1u << 21)    /* skip the op unless slots[cond_slot] >= 0 */

/* Pseudo calls: mechanisms that are not one syscall. */
#define TSJ_PSEUDO_BASE 0x10000u
/* Fork. The parent (PID 1 of the jail) runs the next args[0] ops, which end
 * in the execve of its init; the child skips them and goes on with the plan.
 * The result is the child's pid in the parent (checked with expect), 0 in the child. */
#define TSJ_OP_INIT_FORK (TSJ_PSEUDO_BASE + 1)

struct tsj_op {
	uint32_t nr;    /* syscall number or TSJ_OP_* */
	uint32_t flags; /* TSJ_ARG_* | TSJ_F_* */
	int64_t args[6];
	int64_t expect;
	int16_t save_slot;
	int16_t patch_slot;
	int16_t cond_slot;
	uint16_t reserved;
	uint32_t patch_off;
	uint16_t ok_errno[4]; /* errnos that count as success (0 ends the list) */
	uint32_t pad;
};

struct tsj_plan_hdr {
	uint32_t magic;
	uint32_t abi;
	uint32_t size; /* whole blob */
	uint32_t n_ops;
	uint32_t ops_off;
	uint32_t n_relocs;
	uint32_t relocs_off; /* u32 offsets of u64 words holding blob offsets */
	uint32_t desc_off;   /* 0, or u32 offsets (one per op) of NUL-terminated descriptions */
};

/* Written to the error pipe. soft=1: a tolerated failure (a warning). */
struct tsj_report {
	uint32_t op_index;
	int32_t err;
	int64_t ret;
	uint32_t soft;
	uint32_t pad;
};

/* -Me launcher input: this header, then the plans in the order of the
 * fields. The helper plan runs in a child forked before unshare, still
 * privileged in the parent namespaces (it writes the id maps). With a new pid
 * namespace the setup is split at the mount phase: the pre plan runs in the
 * launcher, the mount plan in a CLONE_FS child that lives in the new pid
 * namespace (so /proc is the jail's), the main plan in the launcher again. */
#define TSJ_EXEC_MAGIC 0x454a5354u /* "TSJE" */
struct tsj_exec_hdr {
	uint32_t magic;
	uint32_t abi;
	uint64_t unshare_flags;
	uint32_t helper_size;
	uint32_t pre_size;
	uint32_t mnt_size;
	uint32_t main_size; /* ends in execve */
	int32_t log_fd;     /* where failures are described (the plans' descriptions) */
	uint32_t pad;
};

int tsj_abi_version(void);
long tsj_spawn(const void *plan, uint32_t size, uint64_t clone_flags, int err_fd);
long tsj_spawn_vm(const void *plan, uint32_t size, uint64_t clone_flags, int err_fd, uint64_t *region);
void tsj_release(uint64_t region);
int tsj_send_fd(int sock, int fd);
int tsj_run_plan(uint8_t *blob, uint32_t size, int err_fd, int log_fd);
void tsj_reset_signals(void);

#endif
