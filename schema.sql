-- exp event store. Applied by the binary on every open (idempotent); the single source of the schema.
--
-- `events` is append-only: triggers reject UPDATE and DELETE. Each experiment's events form a hash
-- chain: hash = sha256(prev_hash || canonical JSON of {experiment, run, ts, kind, payload}), with
-- prev_hash of an experiment's first event = 64 zeros. `exp verify` recomputes it.
--
-- `hash` has no index: nothing looks an event up by its hash, and an index of random 64-digit keys
-- made batch appends 2.3x slower (each event dirtied another index page). A copied or forged row
-- breaks the chain, which `exp verify` reports. Databases created by earlier versions keep their
-- UNIQUE index on it; they work the same, only their appends are slower.

CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment TEXT    NOT NULL,
    run        TEXT    NOT NULL,
    ts         TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    payload    TEXT    NOT NULL CHECK (json_valid(payload)),
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
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
    -- schema version 2 names the file in `onnx`; version 1 in flat fields
    COALESCE(json_extract(e.payload, '$.onnx.path'),
             json_extract(e.payload, '$.onnx_path'))       AS onnx_path,
    COALESCE(json_extract(e.payload, '$.onnx.bytes'),
             json_extract(e.payload, '$.size_bytes'))      AS size_bytes,
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

-- One row per completed epoch. `epoch` is 1-based within its phase (as training prints it).
-- `superseded` is 1 for an epoch trained again later: a resume rejected the checkpoint of it or of
-- an earlier epoch of its phase (CheckpointRejected), or its phase restarted (PhaseRestarted). The
-- state (`exp show`, reports) leaves superseded epochs out; `WHERE NOT superseded` does the same.
DROP VIEW IF EXISTS v_epochs;
CREATE VIEW v_epochs AS
SELECT
    e.experiment                                                  AS experiment,
    e.seq                                                         AS seq,
    e.ts                                                          AS ts,
    CASE WHEN json_extract(e.payload, '$.pruning_step') IS NULL
         THEN json_extract(e.payload, '$.index') END              AS phase_index,
    CASE WHEN json_extract(e.payload, '$.pruning_step') IS NULL
         THEN json_extract(e.payload, '$.report.phase')
         ELSE 'RECOVERY' END                                      AS phase,
    json_extract(e.payload, '$.pruning_step')                     AS pruning_step,
    json_extract(e.payload, '$.report.epoch') + 1                 AS epoch,
    json_extract(e.payload, '$.report.train_loss')                AS train_loss,
    json_extract(e.payload, '$.report.validation.accuracy')       AS val_accuracy,
    json_extract(e.payload, '$.report.validation.macro_f1')       AS val_macro_f1,
    json_extract(e.payload, '$.report.validation.mean_confidence') AS val_mean_confidence,
    json_extract(e.payload, '$.report.peak_lr')                   AS peak_lr,
    json_extract(e.payload, '$.report.lr_reduced[1]')             AS lr_reduced_to,
    json_extract(e.payload, '$.report.improved')                  AS improved,
    json_extract(e.payload, '$.report.steps')                     AS steps,
    json_extract(e.payload, '$.report.misclassified')             AS train_misclassified,
    json_extract(e.payload, '$.report.samples_per_sec')           AS samples_per_sec,
    json_extract(e.payload, '$.report.duration_s')                AS duration_s,
    CASE WHEN json_extract(e.payload, '$.pruning_step') IS NULL THEN
    (EXISTS (SELECT 1 FROM events r
              WHERE r.kind = 'PhaseRestarted' AND r.experiment = e.experiment AND r.seq > e.seq
                AND json_extract(r.payload, '$.index') = json_extract(e.payload, '$.index'))
     OR EXISTS (SELECT 1 FROM events r
              WHERE r.kind = 'CheckpointRejected' AND r.experiment = e.experiment AND r.seq > e.seq
                AND json_extract(r.payload, '$.index') = json_extract(e.payload, '$.index')
                AND json_extract(r.payload, '$.epoch') <= json_extract(e.payload, '$.report.epoch')))
    ELSE
    -- A recovery epoch is superseded when its pruning step ran again (a killed run resumed, or
    -- the one-shot retry of the step).
    EXISTS (SELECT 1 FROM events r
             WHERE r.kind = 'EpochCompleted' AND r.experiment = e.experiment AND r.seq > e.seq
               AND json_extract(r.payload, '$.pruning_step') = json_extract(e.payload, '$.pruning_step')
               AND json_extract(r.payload, '$.report.epoch') <= json_extract(e.payload, '$.report.epoch'))
    END                                                           AS superseded
FROM events e
WHERE e.kind = 'EpochCompleted';

-- One row per training phase (its first start; a resumed phase is not repeated), with its outcome
-- once PhaseCompleted is recorded. `best_epoch` is 1-based like v_epochs.epoch. `epochs_recorded`
-- counts the epochs that are not superseded (see v_epochs); `restarts` the PhaseRestarted of it.
DROP VIEW IF EXISTS v_phases;
CREATE VIEW v_phases AS
SELECT
    s.experiment                                          AS experiment,
    json_extract(s.payload, '$.index')                    AS phase_index,
    json_extract(s.payload, '$.start.spec.kind')          AS phase,
    min(s.seq)                                            AS started_seq,
    s.ts                                                  AS started_at,
    json_extract(s.payload, '$.start.train_samples')      AS train_samples,
    json_extract(s.payload, '$.start.spec.batch_size')    AS batch_size,
    json_extract(s.payload, '$.start.spec.start_lr')      AS peak_lr,
    json_extract(s.payload, '$.start.spec.epochs')        AS max_epochs,
    json_extract(s.payload, '$.start.spec.weighted')      AS weighted,
    (SELECT count(*) FROM v_epochs x
      WHERE x.experiment = s.experiment AND NOT x.superseded
        AND x.phase_index = json_extract(s.payload, '$.index'))   AS epochs_recorded,
    (SELECT count(*) FROM events x
      WHERE x.kind = 'PhaseRestarted' AND x.experiment = s.experiment
        AND json_extract(x.payload, '$.index') = json_extract(s.payload, '$.index')) AS restarts,
    json_extract(c.payload, '$.epochs_run')               AS epochs_run,
    json_extract(c.payload, '$.best_epoch') + 1           AS best_epoch,
    json_extract(c.payload, '$.best_macro_f1')            AS best_macro_f1,
    json_extract(c.payload, '$.early_stopped')            AS early_stopped,
    c.ts                                                  AS completed_at
FROM events s
LEFT JOIN events c ON c.experiment = s.experiment AND c.kind = 'PhaseCompleted'
    AND json_extract(c.payload, '$.index') = json_extract(s.payload, '$.index')
WHERE s.kind = 'PhaseStarted'
GROUP BY s.experiment, json_extract(s.payload, '$.index');

-- One row per structured-pruning step.
DROP VIEW IF EXISTS v_pruning_steps;
CREATE VIEW v_pruning_steps AS
SELECT
    e.experiment                                              AS experiment,
    e.seq                                                     AS seq,
    json_extract(e.payload, '$.step')                         AS step,
    json_extract(e.payload, '$.target_fraction')              AS target_fraction,
    json_extract(e.payload, '$.importance')                   AS importance,
    json_extract(e.payload, '$.shape.parameters')             AS parameters,
    json_extract(e.payload, '$.shape.encoder_parameters')     AS encoder_parameters,
    json_extract(e.payload, '$.reference_shape.parameters')   AS reference_parameters,
    json_extract(e.payload, '$.validation.accuracy')          AS val_accuracy,
    json_extract(e.payload, '$.validation.macro_f1')          AS val_macro_f1,
    json_extract(e.payload, '$.reference_accuracy')           AS reference_accuracy,
    json_extract(e.payload, '$.kept')                         AS kept,
    json_extract(e.payload, '$.recovery_epochs')              AS recovery_epochs,
    (SELECT json_extract(l.value, '$.mean_ms') FROM json_each(e.payload, '$.latency') l
      WHERE json_extract(l.value, '$.batch_size') = 1)        AS latency_b1_ms
FROM events e
WHERE e.kind = 'PruningStep';

-- One row per exported file checked on the validation split, with the export it belongs to
-- (the latest ModelExported before it).
DROP VIEW IF EXISTS v_exports;
CREATE VIEW v_exports AS
SELECT
    v.experiment                                        AS experiment,
    v.seq                                               AS seq,
    json_extract(x.payload, '$.dir')                    AS dir,
    json_extract(x.payload, '$.source')                 AS source,
    json_extract(v.payload, '$.file')                   AS file,
    json_extract(v.payload, '$.format')                 AS format,
    json_extract(v.payload, '$.sha256')                 AS sha256,
    json_extract(v.payload, '$.size_bytes')             AS size_bytes,
    json_extract(v.payload, '$.max_abs_diff')           AS max_abs_diff,
    json_extract(v.payload, '$.validation.accuracy')    AS val_accuracy,
    json_extract(v.payload, '$.validation.macro_f1')    AS val_macro_f1
FROM events v
LEFT JOIN events x ON x.seq = (
    SELECT max(m.seq) FROM events m
    WHERE m.experiment = v.experiment AND m.kind = 'ModelExported' AND m.seq < v.seq)
WHERE v.kind = 'ExportValidated';

-- One row per BenchmarkMeasured: model x format x batch size, in the benchmark notebook's terms.
DROP VIEW IF EXISTS v_benchmarks;
CREATE VIEW v_benchmarks AS
SELECT
    e.experiment                                                  AS experiment,
    e.seq                                                         AS seq,
    json_extract(e.payload, '$.model')                            AS model,
    json_extract(e.payload, '$.model_type')                       AS model_type,
    json_extract(e.payload, '$.provider')                         AS provider,
    json_extract(e.payload, '$.latency.batch_size')               AS batch_size,
    json_extract(e.payload, '$.latency.mean_ms')                  AS avg_latency_ms,
    json_extract(e.payload, '$.latency.std_ms')                   AS std_latency_ms,
    json_extract(e.payload, '$.latency.p50_ms')                   AS p50_latency_ms,
    json_extract(e.payload, '$.latency.p95_ms')                   AS p95_latency_ms,
    json_extract(e.payload, '$.latency.p99_ms')                   AS p99_latency_ms,
    json_extract(e.payload, '$.latency.throughput_samples_per_sec') AS throughput_samples_per_sec,
    json_extract(e.payload, '$.peak_memory_mb')                   AS peak_memory_mb,
    json_extract(e.payload, '$.model_size_mb')                    AS model_size_mb,
    json_extract(e.payload, '$.accuracy')                         AS accuracy,
    json_extract(e.payload, '$.f1_score')                         AS f1_score,
    json_extract(e.payload, '$.validation_samples')               AS validation_samples,
    json_extract(e.payload, '$.file')                             AS file
FROM events e
WHERE e.kind = 'BenchmarkMeasured';

-- One row per model per sealed-test evaluation (role `baseline` or `candidate` of its TestEvaluated).
DROP VIEW IF EXISTS v_tests;
CREATE VIEW v_tests AS
SELECT
    e.experiment                                          AS experiment,
    e.seq                                                 AS seq,
    r.key                                                 AS role,
    json_extract(r.value, '$.model')                      AS model,
    json_extract(r.value, '$.samples')                    AS samples,
    json_extract(r.value, '$.accuracy')                   AS accuracy,
    json_extract(r.value, '$.accuracy_ci95[0]')           AS ci95_low,
    json_extract(r.value, '$.accuracy_ci95[1]')           AS ci95_high,
    json_extract(r.value, '$.metrics.macro_f1')           AS macro_f1,
    json_extract(e.payload, '$.flips.fixed')              AS fixed,
    json_extract(e.payload, '$.flips.broken')             AS broken,
    json_extract(e.payload, '$.mcnemar_p')                AS mcnemar_p
FROM events e, json_each(e.payload) r
WHERE e.kind = 'TestEvaluated' AND r.key IN ('baseline', 'candidate');

-- One row per report written by `exp report`.
DROP VIEW IF EXISTS v_reports;
CREATE VIEW v_reports AS
SELECT
    e.experiment                                   AS experiment,
    e.seq                                          AS seq,
    e.ts                                           AS ts,
    json_extract(e.payload, '$.dir')               AS dir,
    json_extract(e.payload, '$.through_seq')       AS through_seq,
    json_array_length(e.payload, '$.files')        AS files
FROM events e
WHERE e.kind = 'ReportGenerated';

-- `exp tag`: each experiment's tags as they stand (the latest TagSet of each key; a removed key
-- is not listed), with the event that set them.
DROP VIEW IF EXISTS v_tags;
CREATE VIEW v_tags AS
SELECT
    e.experiment                                   AS experiment,
    json_extract(e.payload, '$.key')               AS key,
    json_extract(e.payload, '$.value')             AS value,
    e.seq                                          AS seq,
    e.ts                                           AS ts
FROM events e
WHERE e.kind = 'TagSet'
  AND e.seq = (SELECT max(x.seq) FROM events x
               WHERE x.experiment = e.experiment AND x.kind = 'TagSet'
                 AND json_extract(x.payload, '$.key') = json_extract(e.payload, '$.key'))
  AND json_extract(e.payload, '$.value') IS NOT NULL;

-- `exp note`: every note, in order.
DROP VIEW IF EXISTS v_notes;
CREATE VIEW v_notes AS
SELECT
    e.experiment                                   AS experiment,
    e.seq                                          AS seq,
    e.ts                                           AS ts,
    json_extract(e.payload, '$.text')              AS text
FROM events e
WHERE e.kind = 'NoteAdded';

-- Where each run ran: exp new's environment (in ExperimentCreated) and each later run's
-- (RunStarted, the first event of every run that records anything).
DROP VIEW IF EXISTS v_runs;
CREATE VIEW v_runs AS
SELECT
    e.experiment                                                    AS experiment,
    e.seq                                                           AS seq,
    e.ts                                                            AS ts,
    CASE e.kind WHEN 'ExperimentCreated' THEN 'exp new'
        ELSE json_extract(e.payload, '$.command') END               AS command,
    json_extract(e.payload, '$.environment.exp_version')            AS exp_version,
    json_extract(e.payload, '$.environment.git_commit')             AS git_commit,
    json_extract(e.payload, '$.environment.rustc')                  AS rustc,
    json_extract(e.payload, '$.environment.candle')                 AS candle,
    json_extract(e.payload, '$.environment.onnxruntime.version')    AS onnxruntime,
    json_extract(e.payload, '$.environment.onnxruntime.sha256')     AS onnxruntime_sha256,
    json_extract(e.payload, '$.environment.cpu')                    AS cpu,
    json_extract(e.payload, '$.environment.gemm_kernels')           AS gemm_kernels,
    json_extract(e.payload, '$.environment.threads')                AS threads,
    json_extract(e.payload, '$.environment.os')                     AS os
FROM events e
WHERE e.kind = 'RunStarted'
   OR (e.kind = 'ExperimentCreated' AND json_extract(e.payload, '$.environment') IS NOT NULL);
