/** Compile errors carry Kafel's `line:column: message` form. */
export class SeccompCompileError extends Error {
  override name = 'SeccompCompileError';
  line?: number;
  column?: number;

  constructor(message: string, pos?: { line: number; col: number }) {
    super(pos ? `${pos.line}:${pos.col}: ${message}` : message);
    if (pos) {
      this.line = pos.line;
      this.column = pos.col;
    }
  }
}
