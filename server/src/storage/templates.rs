//! Report templates: every published version of every template.

use fieldbook_domain::{ReportTemplate, TemplateRef};
use fieldbook_protocol::Versioned;
use uuid::Uuid;

use super::StorageError;

/// The outcome of a publish: the version now current, and whether this
/// publish made it (false: the template had not changed).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedTemplate {
    pub template: Versioned<ReportTemplate>,
    pub created: bool,
}

pub trait TemplateReads {
    /// One version of a template: stored, or the built-in default.
    fn report_template(&self, r: &TemplateRef) -> Result<Option<ReportTemplate>, StorageError>;

    /// The newest version of a template (stored, else built in); the
    /// version number of a built-in one is 0.
    fn latest_report_template(
        &self,
        id: &str,
    ) -> Result<Option<Versioned<ReportTemplate>>, StorageError>;

    /// The newest version of every template, by id.
    fn report_templates(&self) -> Result<Vec<Versioned<ReportTemplate>>, StorageError>;
}

pub trait TemplateWrites {
    /// Publishes `template` (its `version` is ignored): the next version of
    /// its id, unless it says the same as the newest one, which is then
    /// returned unchanged. The caller has validated it.
    fn publish_report_template(
        &mut self,
        template: &ReportTemplate,
        published_by: Option<Uuid>,
    ) -> Result<PublishedTemplate, StorageError>;
}
