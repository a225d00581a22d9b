//! Money on the wire: amounts are exact decimal strings, never JSON numbers, so no client or
//! intermediary can round them through a float.

use async_graphql::{
    InputObject, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};
use djinn_domain::{Currency, Money as DomainMoney, MoneyError};

/// An exact decimal number as a string, e.g. "1234.56". JSON numbers are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal(pub String);

/// An exact decimal number as a string, e.g. "1234.56". JSON numbers are refused.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(Decimal(text)),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    pub amount: Decimal,
    pub currency: String,
}

impl From<DomainMoney> for Money {
    fn from(money: DomainMoney) -> Self {
        Money {
            amount: Decimal(money.to_decimal_string()),
            currency: money.currency().code().to_owned(),
        }
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct MoneyInput {
    pub amount: Decimal,
    pub currency: String,
}

/// Why a `MoneyInput` could not become money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyInputError {
    Currency(String),
    Amount(MoneyError),
}

impl MoneyInput {
    pub fn currency(&self) -> Result<Currency, MoneyInputError> {
        Currency::parse(&self.currency).map_err(|e| MoneyInputError::Currency(e.to_string()))
    }

    /// An amount above zero, exact in its currency.
    pub fn positive(&self) -> Result<DomainMoney, MoneyInputError> {
        DomainMoney::parse_positive(&self.amount.0, self.currency()?)
            .map_err(MoneyInputError::Amount)
    }
}
