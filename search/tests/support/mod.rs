pub use folio_search::meili_stub;
