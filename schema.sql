-- exp event store. Applied by the binary on every open (idempotent); the single source of the schema.
--
-- `events` is append-only: triggers reject UPDATE and DELETE. Each experiment's events form a hash
-- chain: hash = sha256(prev_hash || canonical JSON of {experiment, run, ts, kind, payload}), with
-- prev_hash of an experiment's first event = 64 zeros. `exp verify` recomputes it.

CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment TEXT    NOT NULL,
    run        TEXT    NOT NULL,
    ts         TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    payload    TEXT    NOT NULL CHECK (json_valid(payload)),
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE
);

CREATE INDEX IF NOT EXISTS events_by_experiment ON events (experiment, seq);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, experiment);

CREATE TRIGGER IF NOT EXISTS events_reject_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS events_reject_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed');
END;

-- One writer per experiment. A row names the process holding the experiment; a row whose
-- process is gone (killed run) is taken over by the next writer.
CREATE TABLE IF NOT EXISTS writer_locks (
    experiment  TEXT PRIMARY KEY,
    pid         INTEGER NOT NULL,
    pid_started INTEGER,
    host        TEXT NOT NULL,
    command     TEXT NOT NULL,
    since       TEXT NOT NULL
);

-- Views for plain SQL. Payload fields are read with json_extract; see README "Querying the log".

DROP VIEW IF EXISTS v_experiments;
CREATE VIEW v_experiments AS
SELECT
    c.experiment                                   AS experiment,
    c.ts                                           AS created_at,
    json_extract(c.payload, '$.model.spec')        AS model,
    json_extract(c.payload, '$.model.format')      AS model_format,
    json_extract(c.payload, '$.data_path')         AS data_path,
    json_extract(c.payload, '$.seed')              AS seed,
    json_extract(d.payload, '$.rows_read')         AS rows_read,
    json_extract(d.payload, '$.samples')           AS samples,
    json_extract(s.payload, '$.counts.train')      AS train_samples,
    json_extract(s.payload, '$.counts.validation') AS validation_samples,
    json_extract(s.payload, '$.counts.test')       AS test_samples,
    (SELECT count(*) FROM events e WHERE e.experiment = c.experiment) AS events,
    (SELECT max(e.ts) FROM events e WHERE e.experiment = c.experiment) AS last_event_at
FROM events c
LEFT JOIN events d ON d.experiment = c.experiment AND d.kind = 'DatasetLoaded'
LEFT JOIN events s ON s.experiment = c.experiment AND s.kind = 'SplitMade'
WHERE c.kind = 'ExperimentCreated';

DROP VIEW IF EXISTS v_dataset_labels;
CREATE VIEW v_dataset_labels AS
SELECT
    e.experiment AS experiment,
    l.key        AS label,
    l.value      AS samples
FROM events e, json_each(e.payload, '$.label_counts') l
WHERE e.kind = 'DatasetLoaded';

DROP VIEW IF EXISTS v_split_labels;
CREATE VIEW v_split_labels AS
SELECT
    e.experiment AS experiment,
    p.key        AS split,
    l.key        AS label,
    l.value      AS samples
FROM events e, json_each(e.payload, '$.label_counts') p, json_each(p.value) l
WHERE e.kind = 'SplitMade';

DROP VIEW IF EXISTS v_baselines;
CREATE VIEW v_baselines AS
SELECT
    e.experiment                                           AS experiment,
    e.seq                                                  AS seq,
    json_extract(e.payload, '$.origin')                    AS origin,
    json_extract(e.payload, '$.onnx_path')                 AS onnx_path,
    json_extract(e.payload, '$.size_bytes')                AS size_bytes,
    json_extract(e.payload, '$.validation.sample_count')   AS validation_samples,
    json_extract(e.payload, '$.validation.accuracy')       AS accuracy,
    json_extract(e.payload, '$.validation.macro_f1')       AS macro_f1,
    json_extract(e.payload, '$.validation.avg_confidence') AS avg_confidence,
    (SELECT json_extract(l.value, '$.mean_ms') FROM json_each(e.payload, '$.latency') l
      WHERE json_extract(l.value, '$.batch_size') = 1)     AS latency_b1_ms,
    (SELECT json_extract(l.value, '$.mean_ms') FROM json_each(e.payload, '$.latency') l
      WHERE json_extract(l.value, '$.batch_size') = 8)     AS latency_b8_ms
FROM events e
WHERE e.kind = 'BaselineCaptured';

DROP VIEW IF EXISTS v_plans;
CREATE VIEW v_plans AS
SELECT
    e.experiment                                         AS experiment,
    e.seq                                                AS seq,
    json_extract(e.payload, '$.plan.health')             AS health,
    json_extract(e.payload, '$.plan.epochs')             AS epochs,
    json_extract(e.payload, '$.plan.batch_size')         AS batch_size,
    json_extract(e.payload, '$.plan.weight_multiplier')  AS weight_multiplier,
    json_extract(e.payload, '$.plan.lr_band.low')        AS lr_low,
    json_extract(e.payload, '$.plan.lr_band.high')       AS lr_high,
    json_extract(e.payload, '$.plan.inputs.priority_count') AS priority_samples,
    json_extract(e.payload, '$.plan.pruning.level')      AS pruning
FROM events e
WHERE e.kind = 'PlanDerived';
