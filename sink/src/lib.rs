//! The sink stage (not built yet; issue #6): idempotent, revision-aware
//! upserts of indicator rows and event-level rows into PostgreSQL and Delta
//! Lake tables.
