//! lap views: what the indicators say, for the people they are for.
//!
//! Teachers see their classes and their learners by name, school leaders
//! their schools' class and school rows, guardians their own children,
//! learners themselves; who is which comes from the OneRoster roster, so
//! nothing is configured per person. The stores keep pseudonyms only: the
//! service, like enrich, holds the roster and the pseudonymisation key, so
//! it can derive the pseudonyms of exactly the learners a signed-in person
//! is entitled to and put names on those rows when a page is rendered.
//! Names are never written to a store, a log or a URL; every page that
//! shows a learner's rows leaves an access record.
//!
//! - [`directory`]: roster → who may see what ([`Viewer`]).
//! - [`store`]: where rows are read (PostgreSQL or the lake) and where the
//!   views keep access records and flag actions.
//! - [`present`]: transport-free — open flags after teachers' actions,
//!   series for charts.
//! - [`chart`], [`calendar`], [`labels`], [`pages`]: server-rendered HTML
//!   and SVG.
//! - [`digest`]: transport-free — which flags are new or worse since a
//!   teacher's previous digest, and what the digest says (no names).
//! - [`notify`]: sends the digests that are due, by e-mail and webhook.
//! - [`oidc`]: sign-in through the school's OpenID provider.
//! - [`server`]: routes, sign-in sessions, CSRF, and [`serve`].

pub mod calendar;
pub mod chart;
pub mod digest;
pub mod directory;
pub mod labels;
pub mod notify;
pub mod oidc;
pub mod pages;
pub mod present;
pub mod server;
pub mod store;

pub use directory::{Claim, Directory, Role, Viewer};
pub use server::{Options, SignIn, Views, router, serve};
pub use store::Backend;
