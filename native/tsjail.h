/*
 * tsjail native plan runner: its entry points. The wire format is src/linux/wire.ts.
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

/* Constants and structs (the plan's ops and header, the reports, the -Me
 * header) come from src/linux/wire.ts, generated at build time with asserts on
 * every size and offset. */
#include "build/wire.h"

/* The -Me launcher (exec_main.c) runs one plan too: the children it needs
 * (the id-map helper, the pid namespace's PID 1, the mount phase's CLONE_FS
 * child) are segments of that plan, started by TSJ_OP_SPAWN. */

int tsj_abi_version(void);
long tsj_spawn(const void *plan, uint32_t size, uint64_t clone_flags, int err_fd);
long tsj_spawn_vm(const void *plan, uint32_t size, uint64_t clone_flags, int err_fd, uint64_t *region);
void tsj_release(uint64_t region);
int tsj_send_fd(int sock, int fd);
int tsj_run_plan(uint8_t *blob, uint32_t size, int err_fd, int log_fd);
void tsj_reset_signals(void);

/* The seccomp notification supervisor's calls (notify.c). */
int tsj_recv_fd_cred(int sock, int *fd, int *pid);
long tsj_vm_read(int pid, uint64_t addr, void *buf, uint64_t len);
void tsj_path_types(int pid, const char *path, uint32_t *modes);
int tsj_notif_continue(int fd, uint64_t id);
long tsj_thread_regs(int tid, uint64_t *exe_id, char *buf, long len, int tries);

#endif
