/** Messages between the main thread (supervisor.ts) and the notification worker (worker.ts). */
import type { StatsData } from './report.js';

export interface WorkerInit {
  /** tsjail's end of the notify socket: listeners arrive on it. */
  readonly sock: number;
  /** Read end of the wake pipe: a byte there means messages are waiting. */
  readonly wake: number;
  /** The jail's original filter (sock_filter[]): its answer to each notified call is applied. Absent: everything passes. */
  readonly policy?: Uint8Array;
  /** A --seccomp_bpf_file program at the head of the notify filter (seccomp/notify.ts, withBpfFile): its answer counts too, as an older filter's. */
  readonly file?: Uint8Array;
  /** Record the traced calls for the report (--seccomp_unotify). */
  readonly trace: boolean;
  /** Also count every call by name (learn). */
  readonly learn: boolean;
  /** --landlock_log: the rules' paths; a traced file call on another path is handed over to be named. */
  readonly watch?: readonly string[];
}

/** A notified call the main thread logs before the worker acts on it. */
export interface NotifyEvent {
  readonly t: 'event';
  readonly key: number;
  /** The process that installed the filter (the jail, or the program under --init's PID 1) and its parent. */
  readonly jail: number;
  readonly ppid: number;
  /** The calling thread, as tsjail sees it. */
  readonly tid: number;
  readonly nr: number;
  readonly arch: string;
  readonly ip: string;
  readonly syscall: string;
  readonly args: string[];
  /** `openat(AT_FDCWD, "/etc/passwd", O_RDONLY)`. */
  readonly call: string;
  /** The filter's answer: KILL_PROCESS, ERRNO(1), USER_NOTIF… */
  readonly action: string;
  /** What tsjail does about it. */
  readonly outcome: string;
  /** A refusal (else a USER_NOTIF rule, or a path outside the Landlock rules: let through). */
  readonly violation: boolean;
  /** --landlock_log: the path outside the rules, and what the jail and the host have there. */
  readonly landlock?: string;
  /** The last one of this jail that is logged; later ones are counted. */
  readonly last: boolean;
  /** The process gets SIGKILL for a KILL or TRAP answer: when it is the jail, its exit is reported as SIGSYS's, as the kernel's kill would be. */
  readonly sigkilled: boolean;
}

export interface NotifyReport {
  readonly t: 'report';
  readonly jail: number;
  readonly stats: StatsData;
  /** learn: every call by name, with its count. */
  readonly calls: Array<[string, number]>;
  /** Violations past the log limit. */
  readonly unlogged: number;
  /** A listener of this jail arrived (its filter was installed). */
  readonly traced: boolean;
}

/** Without tracing: a listener whose processes are all gone, and the notifications it answered unlogged. */
export interface NotifyGone {
  readonly t: 'gone';
  readonly jail: number;
  readonly ppid: number;
  readonly unlogged: number;
}

export type FromWorker = NotifyEvent | NotifyReport | NotifyGone | { readonly t: 'error'; readonly message: string };

export type ToWorker = { readonly t: 'ack'; readonly key: number } | { readonly t: 'finish'; readonly jail: number } | { readonly t: 'stop' };
