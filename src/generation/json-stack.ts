// The state of the JSON automaton: an immutable stack of frames, one per open object, array,
// string, number or literal. Stacks are shared between readings, so a step allocates only the
// frames it changes.

import { INF } from './json-nodes.js';

/** Returned by completeTag when the frame is not a finished value. */
export const OPEN_VALUE = -2;

export abstract class Frame {
  /** appends the stacks `self` (this frame on top) reaches on byte b */
  abstract step(b: number, self: Stack, out: Stack[]): void;
  /** equal for frames in the same state (to merge readings that have become one) */
  abstract key(): string;
  /** fewest bytes that finish this frame */
  abstract rest(): number;
  /** fewest bytes of this frame after the child above it is finished */
  childTail(): number {
    return 0;
  }
  afterChild(_tag: number): Frame {
    throw new Error('not a container');
  }
  /** a tag when the frame holds a finished value that could still go on (number, enum prefix) */
  completeTag(): number {
    return OPEN_VALUE;
  }
  plainText(): number {
    return -1;
  }
  plainChars(): number {
    return 0;
  }
  plainRest(_chars: number, _text: number): number {
    return INF;
  }
}

let stackIds = 0;

export class Stack {
  readonly id = stackIds++;
  constructor(
    readonly frame: Frame,
    readonly up: Stack | null,
    /** fewest bytes of the frames below once this one is finished */
    readonly tail: number,
  ) {}
}

class DoneFrame extends Frame {
  step(): void {}
  key(): string {
    return 'D';
  }
  rest(): number {
    return 0;
  }
}
export const DONE = new Stack(new DoneFrame(), null, 0);

/** The stack once the top frame's value is finished: its parent moves past the value. */
export function finish(up: Stack | null, tag: number): Stack {
  return up ? new Stack(up.frame.afterChild(tag), up.up, up.tail) : DONE;
}

export function push(frame: Frame, up: Stack | null, out: Stack[]): void {
  out.push(new Stack(frame, up, up ? up.frame.childTail() + up.tail : 0));
}
