// The user data store's interface is the engine's: it is defined with the engine's other
// ports (engine/ports.ts), where the engine says what it needs. The implementations in
// this directory (memory, SQLite, Redis-backed) import it from here.
export type { CategoryKey, ContactListChange, OwnerSeed, RawCategoryKey, UserDataStore } from '../engine/ports.js';
