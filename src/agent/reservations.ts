// The reservations of high-priority migrations are part of the drivers' shared bookkeeping
// (src/drivers/bookkeeping.ts, where the book and its rules live); the agent holds one book
// per host and serves it (routes-reservations.ts).
export { createReservationBook, type HostCapacity, type Reservation, type ReservationBook, type ReservationRequest } from "../drivers/bookkeeping.ts";
