import type { Db, Schema } from './db.js';

/**
 * What the planner plans from: each change raises meta plan_inputs, which wakes a waiting planner (store.ts:
 * watchablePlanInputs). A health row rewritten to the same state changes nothing.
 */
const planInputTriggers = [
  ['health_insert', 'AFTER INSERT ON health'],
  ['health_update', 'AFTER UPDATE OF state ON health WHEN NEW.state IS NOT OLD.state'],
  ['health_delete', 'AFTER DELETE ON health'],
  ['drain_insert', 'AFTER INSERT ON drains'],
  ['drain_delete', 'AFTER DELETE ON drains'],
  ['freeze_insert', 'AFTER INSERT ON freezes'],
  ['freeze_delete', 'AFTER DELETE ON freezes'],
  ['request', 'AFTER INSERT ON requests'],
].map(([name, when]) => `CREATE TRIGGER IF NOT EXISTS plan_inputs_${name} ${when}
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'plan_inputs'; END;`).join('\n');

/**
 * The store's tables (plans, leases, heartbeats, controls, history, alarms, the inventory's versions, adoption grants,
 * the owner id).
 */
export const storeSchema: Schema = {
  ddl: `
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 1), ('generation_last', 0), ('plan_inputs', 0);

CREATE TABLE IF NOT EXISTS plans (
  generation INTEGER PRIMARY KEY,
  base_generation INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  planner_id TEXT NOT NULL,
  fencing_token INTEGER NOT NULL,
  names_total INTEGER NOT NULL,
  names_changed INTEGER NOT NULL,
  forced INTEGER NOT NULL,
  note TEXT NOT NULL,
  inventory_version INTEGER NOT NULL DEFAULT 0
);
-- The inventory, versioned: each row an immutable version with who, when and why (InventoryStore).
CREATE TABLE IF NOT EXISTS inventory_versions (
  version INTEGER PRIMARY KEY, created_at_ms INTEGER NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL,
  forced INTEGER NOT NULL, names INTEGER NOT NULL, summary TEXT NOT NULL, endpoints TEXT NOT NULL,
  services TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS plan_versions (
  name TEXT NOT NULL,
  since INTEGER NOT NULL,
  records TEXT,
  superseded_by INTEGER,
  PRIMARY KEY (name, since)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS plan_versions_by_since ON plan_versions (since);
CREATE INDEX IF NOT EXISTS plan_versions_by_superseded ON plan_versions (superseded_by) WHERE superseded_by IS NOT NULL;

CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL, `
  + `expires_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS enactors (
  id TEXT PRIMARY KEY, held_generation INTEGER NOT NULL, enacted_generation INTEGER NOT NULL,
  heartbeat_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS health (
  target TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('up', 'down')), source TEXT NOT NULL, `
  + `updated_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkers (
  id TEXT PRIMARY KEY, probed INTEGER NOT NULL, down TEXT NOT NULL, suspect INTEGER NOT NULL,
  heartbeat_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, from_generation INTEGER NOT NULL, `
  + `to_generation INTEGER NOT NULL,
  actor TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL, at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_name ON history (name, id);
CREATE INDEX IF NOT EXISTS history_by_time ON history (at_ms);
CREATE TABLE IF NOT EXISTS alarms (
  kind TEXT NOT NULL, name TEXT NOT NULL, message TEXT NOT NULL, count INTEGER NOT NULL,
  raised_at_ms INTEGER NOT NULL, last_at_ms INTEGER NOT NULL, cleared_at_ms INTEGER,
  PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS drains (target TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS freezes (scope TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, subject TEXT NOT NULL, actor TEXT NOT NULL, `
  + `reason TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL, done_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS requests_pending ON requests (kind, id) WHERE done_at_ms IS NULL;
-- Adoption grants (Adoptions): the first grant of a name is kept (INSERT OR IGNORE).
CREATE TABLE IF NOT EXISTS adoptions (
  name TEXT PRIMARY KEY, actor TEXT NOT NULL, reason TEXT NOT NULL, granted_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- The installation's owner id (Ownership): one row at most; former is a JSON array of earlier ids, oldest first.
CREATE TABLE IF NOT EXISTS owner_identity (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1), owner TEXT NOT NULL, former TEXT NOT NULL,
  changed_at_ms INTEGER NOT NULL
);

` + planInputTriggers,
  tables: [
    'plans', 'plan_versions', 'leases', 'enactors', 'health', 'checkers', 'history', 'alarms', 'counters', 'drains',
    'freezes', 'requests', 'inventory_versions',
    // Not adoptions and owner_identity: a file from before them still opens read-only (its readers see none), and
    // the next writer's open creates them (the DDL runs at every writer's open).
  ],
  migrate,
};

/** Columns added after a data directory may have been created: added in place, so an old store opens as it is. */
function migrate(db: Db): void {
  const planColumns = (db.prepare('PRAGMA table_info(plans)').all() as { name: string }[]).map((column) => column.name);
  if (!planColumns.includes('inventory_version')) {
    db.exec('ALTER TABLE plans ADD COLUMN inventory_version INTEGER NOT NULL DEFAULT 0');
  }
  const inventoryColumns = (db.prepare('PRAGMA table_info(inventory_versions)').all() as { name: string }[])
    .map((column) => column.name);
  if (!inventoryColumns.includes('services')) {
    db.exec("ALTER TABLE inventory_versions ADD COLUMN services TEXT NOT NULL DEFAULT '[]'");
  }
}
