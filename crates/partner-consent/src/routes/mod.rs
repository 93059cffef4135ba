//! One module per page or endpoint.

pub mod assets;
pub mod callback;
pub mod health;
pub mod landing;
pub mod start;
