//! Remote wipe: ops order a device erased (`retired` or `lost`), the device
//! learns it from the answers to its own requests, and confirms once it
//! erased itself. The rules of delivery and why a confirmation cannot be
//! forged are in `fieldbook_protocol::wipe`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use fieldbook_protocol::{
    DeviceInfo, ErrorBody, ErrorCode, OrderWipeRequest, WipeConfirmation, WipeKind, WipeOrder,
};
use uuid::Uuid;

use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::{ApiJson, ApiPath};
use crate::storage::{Storage, WipeConfirmed};

/// A retired device's order, found while authenticating: the pull page
/// carries it (the device keeps pushing and uploading until it is done).
#[derive(Debug, Clone)]
pub struct PendingWipe(pub WipeOrder);

/// The answer to every request of a device ordered wiped as lost.
pub fn wipe_ordered(order: WipeOrder) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::GONE,
        ErrorCode::WipeOrdered,
        "Central Ops reported this device lost: it must erase its data and sign in again",
    );
    err.body.wipe = Some(order);
    err
}

/// Orders the device wiped (the ops route and the CLI); the device as ops
/// now see it.
pub fn order_wipe(
    storage: &Storage,
    device_id: Uuid,
    kind: WipeKind,
) -> Result<DeviceInfo, ApiError> {
    let secret = crate::auth::new_token();
    let ordered = storage.write(|tx| tx.order_wipe(device_id, kind, &secret))?;
    let Some(order) = ordered else {
        return Err(ApiError::not_found("device"));
    };
    tracing::info!(%device_id, kind = order.kind.as_str(), "wipe ordered");
    storage
        .read(|db| db.device_record(device_id))?
        .ok_or_else(ApiError::internal)
}

/// Order a device wiped: `retired` sends everything still unsent first,
/// `lost` wipes at its first contact and is refused anything else. A lost
/// order replaces a retired one, never the reverse.
#[utoipa::path(
    post, path = "/api/v1/ops/devices/{device_id}/wipe", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    params(("device_id" = Uuid, Path, description = "Device id")),
    request_body = OrderWipeRequest,
    responses(
        (status = 200, description = "The device with its wipe order", body = DeviceInfo),
        (status = 403, description = "Not Central Ops, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such device", body = ErrorBody),
    )
)]
pub async fn order_wipe_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(device_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<OrderWipeRequest>,
) -> Result<Json<DeviceInfo>, ApiError> {
    crate::ops::require_ops(&caller)?;
    blocking(move || order_wipe(&state.storage, device_id, request.kind))
        .await
        .map(Json)
}

/// A device confirms it erased itself, with the secret its order carried.
/// No bearer token: the device may have erased it already.
#[utoipa::path(
    post, path = "/api/v1/devices/wipe-confirmation", tag = "sync",
    request_body = WipeConfirmation,
    responses(
        (status = 204, description = "Confirmation recorded (also when it was already)"),
        (status = 403, description = "No open wipe order for this device, or not its secret (`forbidden`)", body = ErrorBody),
    )
)]
pub async fn confirm_wipe_handler(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<WipeConfirmation>,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        let confirmed = state
            .storage
            .write(|tx| tx.confirm_wipe(request.device_id, &request.confirmation))?;
        match confirmed {
            WipeConfirmed::Recorded(at) => {
                tracing::info!(device_id = %request.device_id, %at, "wipe confirmed");
                Ok(StatusCode::NO_CONTENT)
            }
            WipeConfirmed::Refused => Err(ApiError::forbidden(
                "This is not the confirmation of an open wipe order of this device",
            )),
        }
    })
    .await
}
