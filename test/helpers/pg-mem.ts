import { newDb } from 'pg-mem';
import type { ClientConstructor } from '../../src/pool/client';

/** A fresh in-memory database and its pg-compatible Client constructor. */
export function memoryDatabase(): { Client: ClientConstructor; db: ReturnType<typeof newDb> } {
  const db = newDb();
  const { Client } = db.adapters.createPg() as { Client: ClientConstructor };
  return { Client, db };
}
