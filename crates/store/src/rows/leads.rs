//! Rows of `leads` (the customer) and `surveys`.

use std::sync::LazyLock;

use fieldbook_domain::{Lead, Survey};
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use crate::db::{get_ts, get_uuid, ts};
use crate::error::Result;
use crate::multi_row::{MultiRowWrite, WriteOver};

const LEAD_COLUMNS: &str = "id, customer_name, phone, email, address_line1, address_line2, \
     city, postcode, latitude, longitude, installer_notes";

fn lead_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Lead> {
    Ok(Lead {
        id: get_uuid(r, 0)?,
        customer_name: r.get(1)?,
        phone: r.get(2)?,
        email: r.get(3)?,
        address_line1: r.get(4)?,
        address_line2: r.get(5)?,
        city: r.get(6)?,
        postcode: r.get(7)?,
        latitude: r.get(8)?,
        longitude: r.get(9)?,
        installer_notes: r.get(10)?,
    })
}

pub(crate) fn load_lead(conn: &Connection, id: Uuid) -> Result<Option<Lead>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {LEAD_COLUMNS} FROM leads WHERE id = ?1"))?
        .query_row([id.to_string()], lead_from_row)
        .optional()?)
}

pub(crate) fn load_survey(conn: &Connection, id: Uuid) -> Result<Option<Survey>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, lead_id, approved_at, surveyor_notes, recommended_charger_model,
                    main_fuse_amps, supply_capacity_kva, cable_run_length_m, photos_count
             FROM surveys WHERE id = ?1",
        )?
        .query_row([id.to_string()], |r| {
            Ok(Survey {
                id: get_uuid(r, 0)?,
                lead_id: get_uuid(r, 1)?,
                approved_at: get_ts(r, 2)?,
                surveyor_notes: r.get(3)?,
                recommended_charger_model: r.get(4)?,
                main_fuse_amps: r.get(5)?,
                supply_capacity_kva: r.get(6)?,
                cable_run_length_m: r.get(7)?,
                photos_count: r.get(8)?,
            })
        })
        .optional()?)
}

/// Writes server snapshots, each with the version it was read at.
pub(crate) fn upsert_leads(conn: &Connection, rows: &[(&Lead, i64)]) -> Result<()> {
    static UPSERT: LazyLock<MultiRowWrite> = LazyLock::new(|| {
        MultiRowWrite::new(
            "leads (id, customer_name, phone, email, address_line1,
                 address_line2, city, postcode, latitude, longitude, installer_notes, server_version)",
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            12,
            WriteOver::Replace,
        )
    });
    UPSERT.write(conn, rows, |(lead, server_version), p| {
        p.push(lead.id.to_string())?
            .push(&lead.customer_name)?
            .push(&lead.phone)?
            .push(&lead.email)?
            .push(&lead.address_line1)?
            .push(&lead.address_line2)?
            .push(&lead.city)?
            .push(&lead.postcode)?
            .push(lead.latitude)?
            .push(lead.longitude)?
            .push(&lead.installer_notes)?
            .push(server_version)?;
        Ok(())
    })
}

/// Writes server snapshots, each with the version it was read at.
pub(crate) fn upsert_surveys(conn: &Connection, rows: &[(&Survey, i64)]) -> Result<()> {
    static UPSERT: LazyLock<MultiRowWrite> = LazyLock::new(|| {
        MultiRowWrite::new(
            "surveys (id, lead_id, approved_at, surveyor_notes,
                 recommended_charger_model, main_fuse_amps, supply_capacity_kva, cable_run_length_m,
                 photos_count, server_version)",
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            10,
            WriteOver::Replace,
        )
    });
    UPSERT.write(conn, rows, |(survey, server_version), p| {
        p.push(survey.id.to_string())?
            .push(survey.lead_id.to_string())?
            .push(ts(&survey.approved_at))?
            .push(&survey.surveyor_notes)?
            .push(&survey.recommended_charger_model)?
            .push(survey.main_fuse_amps)?
            .push(survey.supply_capacity_kva)?
            .push(survey.cable_run_length_m)?
            .push(survey.photos_count)?
            .push(server_version)?;
        Ok(())
    })
}

pub(crate) fn delete_lead(conn: &Connection, id: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM leads WHERE id = ?1")?
        .execute([id])?)
}

pub(crate) fn delete_survey(conn: &Connection, id: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM surveys WHERE id = ?1")?
        .execute([id])?)
}
