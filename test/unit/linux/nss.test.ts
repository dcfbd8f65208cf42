/** getpwnam_r/getgrnam_r through koffi: the C library's answer, NSS modules included. */
import { describe, expect, it } from 'vitest';
import { lookupId } from '../../../src/linux/libc.js';

describe('lookupId', () => {
  it('finds root in both databases and nothing for an unknown name', () => {
    expect(lookupId('passwd', 'root')).toBe(0);
    expect(lookupId('group', 'root')).toBe(0);
    expect(lookupId('passwd', 'tsjail-no-such-user')).toBeUndefined();
    expect(lookupId('group', 'tsjail-no-such-group')).toBeUndefined();
  });

  it('a name no C string can hold is simply not there', () => {
    expect(lookupId('passwd', 'ro\0ot')).toBeUndefined();
  });
});
