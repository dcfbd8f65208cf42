/** A Go binary or go.mod that tsjail cannot use: the message names the file and what is wrong. */
export class GoInputError extends Error {}
