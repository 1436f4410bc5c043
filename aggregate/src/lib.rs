//! The aggregate stage (not built yet; issue #5): event-time daily and
//! weekly windows over `EnrichedEvent`s, indicators defined in DataFusion
//! SQL, early-warning flags and small-group suppression, producing
//! `IndicatorRow`s with revisions.
