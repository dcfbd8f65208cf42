/** Network namespace: bring loopback up (ioctl SIOCSIFFLAGS, as nsjail does). */
import { AF_INET, IFF_RUNNING, IFF_UP, SIOCSIFFLAGS, SOCK_CLOEXEC, SOCK_DGRAM } from '../linux/consts.js';
import { bytes, int, op, slot, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';
import { allocSlot, type PlanContext } from './context.js';

export function planNet(p: Prepared, ctx: PlanContext): ChildOp[] {
  // A joined namespace (--netns) is used as it is.
  if (!p.loopbackUp) return [];
  const s = allocSlot(ctx);
  // struct ifreq: char ifr_name[16]; short ifr_flags
  const ifreq = new Struct(40).str(0, 'lo').u16(16, IFF_UP | IFF_RUNNING).done();
  return [
    op('socket', 'net', [int(AF_INET), int(SOCK_DGRAM | SOCK_CLOEXEC), int(0)], { save: s }),
    op('ioctl', 'net', [slot(s, 'sock'), int(SIOCSIFFLAGS), bytes(ifreq, "{ifr_name='lo', IFF_UP|IFF_RUNNING}")], {
      text: "ioctl(SIOCSIFFLAGS, 'lo', IFF_UP|IFF_RUNNING)",
    }),
    op('close', 'net', [slot(s, 'sock')]),
  ];
}
