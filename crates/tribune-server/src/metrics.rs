//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set for decision counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `allow`, `deny` or `hold`.
    pub decision: &'static str,
}

/// Label set for error counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    /// The API error code.
    pub code: &'static str,
}

/// Label set for reload counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: &'static str,
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    /// Decisions given, by outcome.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Time to decide and durably record, in seconds.
    pub decision_seconds: Histogram,
    /// Requests answered with an error, by code.
    pub errors: Family<CodeLabels, Counter>,
    /// Bundle reloads, by result.
    pub reloads: Family<ResultLabels, Counter>,
    /// Transactions the ledger writer committed.
    pub writer_batches: Gauge,
    /// Entries the ledger writer committed.
    pub writer_records: Gauge,
    /// The human-in-the-loop program's metrics.
    pub hitl: crate::hitl::HitlMetrics,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tribune");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register("decisions", "Decisions given, by outcome", decisions.clone());
        let decision_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 20));
        registry.register(
            "decision_seconds",
            "Time to decide and durably record a decision",
            decision_seconds.clone(),
        );
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "api_errors",
            "API requests answered with an error, by code",
            errors.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register("bundle_reloads", "Bundle reloads, by result", reloads.clone());
        let writer_batches = Gauge::default();
        registry.register(
            "writer_batches_committed",
            "Transactions committed by the ledger writer",
            writer_batches.clone(),
        );
        let writer_records = Gauge::default();
        registry.register(
            "writer_records_committed",
            "Entries committed by the ledger writer",
            writer_records.clone(),
        );
        let hitl = crate::hitl::HitlMetrics::register(&mut registry);
        Metrics {
            registry,
            hitl,
            decisions,
            decision_seconds,
            errors,
            reloads,
            writer_batches,
            writer_records,
        }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
