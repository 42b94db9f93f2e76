//! tmp
#[derive(utoipa::ToSchema)]
pub struct LeadSchema {}
#[derive(utoipa::ToSchema)]
pub struct LifecycleEventSchema {}
#[derive(utoipa::ToSchema)]
pub struct WarningSchema {}
