//! Policies through the API (what the console's policy page calls):
//! GetPolicies, GetPolicy, PutPolicy (a malformed document is refused in
//! words) and SimulatePolicy (the decision and the statement that made it).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use common::api::{PolicyDocument, PolicyList, SimulationRequest, SimulationResult, validate_name};
use common::policy::{Decision, Policy};

use super::error::{ApiError, parse_body};
use crate::control_plane::{CallContext, ControlPlane};

type Plane = State<Arc<ControlPlane>>;
type ApiResult = Result<Response, ApiError>;

pub async fn get_policies(State(plane): Plane) -> ApiResult {
    let policies = plane.store.policy_names()?;
    Ok(Json(PolicyList { policies }).into_response())
}

pub async fn get_policy(State(plane): Plane, Path(name): Path<String>) -> ApiResult {
    let document = plane.store.policy(&name)?;
    Ok(Json(PolicyDocument { document }).into_response())
}

pub async fn put_policy(State(plane): Plane, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let PolicyDocument { document } = parse_body(&body)?;
    validate_name("policy", &name).map_err(|e| ApiError::bad_request("invalid_value", e))?;
    Policy::parse(&document).map_err(|e| {
        ApiError::bad_request("malformed_policy", format!("the policy is refused: {e}"))
    })?;
    plane.store.put_policy(&name, &document, plane.now())?;
    tracing::info!(policy = %name, "policy stored through the API");
    Ok(Json(PolicyDocument { document }).into_response())
}

pub async fn simulate(State(plane): Plane, body: Bytes) -> ApiResult {
    let request: SimulationRequest = parse_body(&body)?;
    plane.store.principal(&request.principal)?;
    let context = CallContext {
        source_ip: request.source_ip,
        mfa_present: request.mfa,
        secure_transport: true,
    };
    let explanation = plane.authorize(
        &request.principal,
        &request.action,
        &request.resource,
        context,
    )?;
    let decision = match explanation.decision {
        Decision::Allow => "ALLOW",
        Decision::ExplicitDeny => "EXPLICIT_DENY",
        Decision::ImplicitDeny => "IMPLICIT_DENY",
    };
    Ok(Json(SimulationResult {
        decision: decision.into(),
        decided_by: explanation.sid,
    })
    .into_response())
}
