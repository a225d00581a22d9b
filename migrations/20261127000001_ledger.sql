-- The double-entry ledger and its projections. Keys are UUIDv7 generated in Rust.
-- Postings are immutable: mistakes are fixed by a reversing transaction, never by UPDATE or DELETE.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    firebase_uid  text NOT NULL UNIQUE CHECK (length(firebase_uid) BETWEEN 1 AND 128),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id                     uuid PRIMARY KEY,
    user_id                uuid NOT NULL REFERENCES users (id),
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind                   text NOT NULL CHECK (kind IN ('checking', 'savings', 'credit_card', 'cash', 'loan', 'equity', 'clearing')),
    currency               char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- NULL for user accounts means no overdraft: the available balance never goes below zero.
    overdraft_limit_minor  bigint CHECK (overdraft_limit_minor >= 0),
    status                 text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at             timestamptz NOT NULL DEFAULT now(),
    -- Lets child rows reference (id, user_id) and (id, currency), so ownership and currency are
    -- enforced by foreign keys, not only by application code.
    UNIQUE (id, user_id),
    UNIQUE (id, currency)
);
CREATE INDEX accounts_user_id_idx ON accounts (user_id, id);
-- One equity and one clearing account per user and currency.
CREATE UNIQUE INDEX accounts_system_unique ON accounts (user_id, currency, kind) WHERE kind IN ('equity', 'clearing');

-- The balances projection, written in the same database transaction as the postings.
-- floor_minor is the lowest the available balance may reach: -overdraft for user accounts,
-- NULL (no floor) for system accounts, which mirror money entering or leaving the books.
CREATE TABLE account_balances (
    account_id            uuid PRIMARY KEY REFERENCES accounts (id),
    posted_minor          bigint NOT NULL DEFAULT 0,
    pending_debit_minor   bigint NOT NULL DEFAULT 0 CHECK (pending_debit_minor >= 0),
    pending_credit_minor  bigint NOT NULL DEFAULT 0 CHECK (pending_credit_minor >= 0),
    floor_minor           bigint,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT available_above_floor CHECK (floor_minor IS NULL OR posted_minor - pending_debit_minor >= floor_minor)
);

CREATE TABLE transactions (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id),
    kind             text NOT NULL CHECK (kind IN ('opening', 'transfer', 'payment', 'import', 'adjustment', 'reversal')),
    status           text NOT NULL CHECK (status IN ('pending', 'posted', 'voided')),
    idempotency_key  text NOT NULL,
    workflow_id      text,
    description      text,
    effective_at     timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, kind, idempotency_key)
);

CREATE TABLE postings (
    id              uuid PRIMARY KEY,
    transaction_id  uuid NOT NULL REFERENCES transactions (id),
    account_id      uuid NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor <> 0),
    currency        char(3) NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (account_id, currency) REFERENCES accounts (id, currency),
    UNIQUE (transaction_id, account_id)
);
CREATE INDEX postings_account_id_idx ON postings (account_id);

CREATE FUNCTION postings_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'postings are immutable: fix mistakes with a reversing transaction';
END;
$$;
CREATE TRIGGER postings_no_update BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION postings_are_immutable();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION postings_are_immutable();

-- One row per workflow the API started, so lists are served from Postgres rather than from
-- Temporal visibility, which is eventually consistent.
CREATE TABLE operations (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id),
    kind             text NOT NULL CHECK (kind IN ('transfer', 'open_account')),
    idempotency_key  text NOT NULL,
    workflow_id      text NOT NULL UNIQUE,
    status           text NOT NULL CHECK (status IN ('pending', 'awaiting_approval', 'posted', 'voided', 'completed', 'failed')),
    failure_code     text,
    failure_message  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, kind, idempotency_key)
);
CREATE INDEX operations_user_id_idx ON operations (user_id, id);

-- The request behind a transfer operation, as the user submitted it.
CREATE TABLE transfers (
    operation_id     uuid PRIMARY KEY REFERENCES operations (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    from_account_id  uuid NOT NULL,
    to_account_id    uuid NOT NULL,
    amount_minor     bigint NOT NULL CHECK (amount_minor > 0),
    currency         char(3) NOT NULL,
    description      text,
    FOREIGN KEY (from_account_id, user_id) REFERENCES accounts (id, user_id),
    FOREIGN KEY (to_account_id, user_id) REFERENCES accounts (id, user_id),
    CHECK (from_account_id <> to_account_id)
);
