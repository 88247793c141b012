//! Unit tests of the candle BERT, one file per topic.

mod bert;
mod fused;
