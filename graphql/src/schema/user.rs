//! The signed-in user.

use super::ids::{self, NodeType};
use async_graphql::{ID, Object};
use djinn_domain::UserId;

#[derive(Clone, Copy, Debug)]
pub struct User(pub UserId);

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::User, self.0.as_uuid())
    }
}
