//! CSV import files (`crates/tabular`, delimited text) from arbitrary bytes, read to the end with
//! the encoding detected and with UTF-8 and GBK forced: no panic, and every row as `Table` promises.

#![no_main]

use hatchery_fuzz::read_whole_table;
use hatchery_tabular::{Encoding, Format, Table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for encoding in [Encoding::Auto, Encoding::Utf8, Encoding::Gbk] {
        if let Ok(table) = Table::from_bytes(data.to_vec(), Some(Format::Csv), encoding) {
            if encoding != Encoding::Auto {
                assert_eq!(table.detected_encoding, encoding);
            }
            read_whole_table(table);
        }
    }
    // Without a format, a ZIP signature means XLSX and anything else CSV.
    if let Ok(table) = Table::from_bytes(data.to_vec(), None, Encoding::Auto) {
        read_whole_table(table);
    }
});
