//! Rows of `report_templates`: every published version of every template.

use fieldbook_domain::template::builtin_template;
use fieldbook_domain::{ReportTemplate, TemplateRef};
use fieldbook_protocol::Versioned;
use uuid::Uuid;

use super::rows::{from_json, to_json};
use super::{timestamp, PgDb, PgTx};
use crate::storage::{PublishedTemplate, StorageError, TemplateReads, TemplateWrites};

impl TemplateReads for PgDb<'_> {
    fn report_template(&self, r: &TemplateRef) -> Result<Option<ReportTemplate>, StorageError> {
        let body: Option<String> = self
            .row(
                "SELECT body FROM report_templates WHERE id = $1 AND version = $2",
                &[&r.id.as_str(), &i64::from(r.version)],
            )?
            .map(|row| row.try_get(0))
            .transpose()?;
        match body {
            Some(b) => Ok(Some(from_json(&b)?)),
            None => Ok(builtin_template(r)),
        }
    }

    fn latest_report_template(
        &self,
        id: &str,
    ) -> Result<Option<Versioned<ReportTemplate>>, StorageError> {
        let row = self.row(
            "SELECT body, seq FROM report_templates WHERE id = $1 \
             ORDER BY version DESC LIMIT 1",
            &[&id],
        )?;
        match row {
            Some(row) => Ok(Some(Versioned {
                version: row.try_get::<_, i64>(1)? as u64,
                record: from_json(&row.try_get::<_, String>(0)?)?,
            })),
            None => Ok(fieldbook_domain::template::builtin_templates()
                .into_iter()
                .find(|t| t.id == id)
                .map(|record| Versioned { version: 0, record })),
        }
    }

    fn report_templates(&self) -> Result<Vec<Versioned<ReportTemplate>>, StorageError> {
        let mut ids: Vec<String> = self
            .rows("SELECT DISTINCT id FROM report_templates ORDER BY id", &[])?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        for builtin in fieldbook_domain::template::builtin_templates() {
            if !ids.contains(&builtin.id) {
                ids.push(builtin.id);
            }
        }
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.latest_report_template(&id)?);
        }
        Ok(out)
    }
}

impl TemplateWrites for PgTx<'_> {
    fn publish_report_template(
        &mut self,
        template: &ReportTemplate,
        published_by: Option<Uuid>,
    ) -> Result<PublishedTemplate, StorageError> {
        // Two instances publishing the same template take turns.
        self.db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))",
            &[&template.id.as_str()],
        )?;
        let latest = self.db.latest_report_template(&template.id)?;
        if let Some(latest) = latest.as_ref() {
            if latest.record.same_content_as(template) {
                return Ok(PublishedTemplate {
                    template: latest.clone(),
                    created: false,
                });
            }
        }
        let mut record = template.clone();
        record.version = latest.map_or(1, |l| l.record.version + 1);
        let seq = self.next_seq()?;
        self.db.execute(
            "INSERT INTO report_templates (id, version, body, published_at, published_by, seq) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &record.id.as_str(),
                &i64::from(record.version),
                &to_json(&record)?,
                &timestamp(self.now),
                &published_by.map(|u| u.to_string()),
                &(seq as i64),
            ],
        )?;
        Ok(PublishedTemplate {
            template: Versioned {
                version: seq,
                record,
            },
            created: true,
        })
    }
}
