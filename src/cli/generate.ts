/**
 * `tsjail generate man|bash|zsh|fish`: the man page and shell completions, for
 * packaging (make install, the Debian package). Not in --help: users get the
 * installed files.
 */
import { renderBash, renderFish, renderZsh } from './completions.js';
import { quoted } from '../text.js';
import { UsageError } from './flags.js';
import { renderManPage } from './manpage.js';
import { readVersion } from './version.js';

function version(): string | undefined {
  try {
    return readVersion();
  } catch {
    return undefined; // the page is still right without it
  }
}

const OUTPUTS: Record<string, () => string> = {
  man: () => renderManPage(version()),
  bash: renderBash,
  zsh: renderZsh,
  fish: renderFish,
};

export function generate(args: readonly string[]): string {
  const [what, ...rest] = args;
  if (what === undefined || !Object.hasOwn(OUTPUTS, what) || rest.length) {
    throw new UsageError(`generate: expected one of ${Object.keys(OUTPUTS).join(', ')}${what === undefined ? '' : ` (got ${args.map((a) => quoted(a)).join(' ')})`}`);
  }
  return OUTPUTS[what]!();
}
