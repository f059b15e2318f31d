-- How many times a run or chunk was claimed. A worker killed while holding it (a hard time limit,
-- a crash, the OOM killer) makes the next worker claim it again; past a few claims it is failed
-- with the reason instead, so work that kills its worker cannot go round for ever.
ALTER TABLE runs ADD COLUMN claims integer NOT NULL DEFAULT 0;
ALTER TABLE run_chunks ADD COLUMN claims integer NOT NULL DEFAULT 0;
