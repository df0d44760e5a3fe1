/**
 * The rooms of a resumable session kept in a shared store: the hub records
 * each join and leave of a member whose socket has one, so that a server
 * taking the session over knows them (`socket.session.rooms`) before the
 * client joins again. Internal.
 *
 * @module
 */

import type { Socket } from "../socket.ts";

/** Records a room (with a position, or `undefined` when it was left). */
export type RoomRecorder = (room: string, position: string | undefined) => void;

const recorders = new WeakMap<Socket, RoomRecorder>();

/**
 * Gives a socket over a session kept in a shared store its recorder.
 *
 * @param socket The socket.
 * @param recorder Records its rooms.
 */
export function recordRooms(socket: Socket, recorder: RoomRecorder): void {
  recorders.set(socket, recorder);
}

/**
 * Records that a socket joined or left a room, if its session is kept in a
 * shared store.
 *
 * @param socket The socket.
 * @param room The room.
 * @param position Where it joined (`""` without positions), `undefined`
 * when it left.
 */
export function roomChanged(
  socket: Socket,
  room: string,
  position: string | undefined,
): void {
  recorders.get(socket)?.(room, position);
}
