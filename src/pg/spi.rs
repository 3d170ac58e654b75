//! SPI helpers.

/// Unwraps an SPI result; SPI errors here are programming errors.
pub fn spi<T>(result: Result<T, pgrx::spi::Error>) -> T {
    result.unwrap_or_else(|e| pgrx::error!("managed_roles: internal SPI error: {e}"))
}
