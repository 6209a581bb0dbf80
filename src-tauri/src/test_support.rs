//! Test fixture: an [`AppContext`] over a store in a temp dir, filled with
//! demo data as if pulled from the server, with a technician signed in.

use chrono::NaiveDate;
use fieldbook_demo::{generate, DemoConfig, DemoData};
use fieldbook_domain::{InstallationStatus, User};
use fieldbook_store::Store;
use fieldbook_testkit::sign_in_demo_technician;
use tempfile::TempDir;
use uuid::Uuid;

use crate::context::{AppContext, LaunchSettings};

pub struct Fixture {
    /// Kept so the data dir lives as long as the test.
    pub dir: TempDir,
    pub ctx: AppContext,
    pub demo: DemoData,
    pub technician: User,
    pub team_ids: Vec<Uuid>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Self::with_launch(LaunchSettings::default())
    }

    pub fn with_launch(launch: LaunchSettings) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let demo = generate(&DemoConfig::new(
            60,
            2,
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        ));
        let mut store = Store::open(dir.path()).unwrap();
        let (technician, team_ids) = sign_in_demo_technician(&mut store, &demo);
        let ctx = AppContext::new(store, launch).unwrap();
        Fixture {
            dir,
            ctx,
            demo,
            technician,
            team_ids,
        }
    }

    /// An installation of the technician's team in `status`.
    pub fn job_in(&self, status: InstallationStatus) -> Uuid {
        self.demo
            .installations
            .iter()
            .filter(|i| i.status == status)
            .find(|i| {
                self.demo
                    .assignments
                    .iter()
                    .any(|a| a.installation_id == i.id && self.team_ids.contains(&a.team_id))
            })
            .unwrap_or_else(|| panic!("the demo data has no {status} job of the team"))
            .id
    }

    /// A job started on site (in progress), ready for its report.
    pub async fn started_job(&self) -> Uuid {
        let id = self.job_in(InstallationStatus::Confirmed);
        crate::installations::start_installation(&self.ctx, id, None)
            .await
            .unwrap();
        id
    }
}

/// A small real PNG (photos and signatures).
pub fn png_bytes(seed: u8) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(40, 30, |x, y| {
        image::Rgba([x as u8 * 6, y as u8 * 8, seed, 255])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}
