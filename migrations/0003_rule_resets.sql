-- `warden rule reset NAME --reason "…"`: the one way to clear a rule's budget, cooldown and
-- escalation. Budget use and cooldown are read from `remediations` rows of the rule's name
-- started after its latest reset, so editing a rule never refunds what it has spent.
CREATE TABLE rule_resets (
    id      INTEGER PRIMARY KEY,
    rule    TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    at      INTEGER NOT NULL              -- unix milliseconds
) STRICT;

CREATE INDEX rule_resets_by_rule ON rule_resets (rule, at);
