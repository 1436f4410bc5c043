//! The enrich stage (not built yet; issue #4): joins each `LearningEvent`
//! with OneRoster context, pseudonymises learners with a keyed hash, drops
//! personal data and honours opt-outs, producing `EnrichedEvent`s.
