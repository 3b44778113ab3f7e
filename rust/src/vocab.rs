//! The IRIs of the vocabularies ldesfrag reads and writes (TREE, LDES, RDF, XSD, GeoSPARQL, …):
//! one place for all of them. Classes end in `_CLASS` where a property has the same local name.

pub const DCT: &str = "http://purl.org/dc/terms/";
pub const DCT_IS_PART_OF: &str = "http://purl.org/dc/terms/isPartOf";
pub const GEO: &str = "http://www.opengis.net/ont/geosparql#";
pub const GEO_AS_WKT: &str = "http://www.opengis.net/ont/geosparql#asWKT";
pub const GEO_WKT_LITERAL: &str = "http://www.opengis.net/ont/geosparql#wktLiteral";
pub const LDES: &str = "https://w3id.org/ldes#";
/// The one property of our own in a view description: the zone of a time fragmentation,
/// written only when it is not UTC (the reference server buckets in UTC and has no such term).
pub const LDESFRAG_TIMEZONE: &str = "https://w3id.org/ldesfrag#timezone";
pub const LDES_EVENT_STREAM: &str = "https://w3id.org/ldes#EventStream";
pub const LDES_IMMUTABLE: &str = "https://w3id.org/ldes#immutable";
pub const LDES_TIMESTAMP_PATH: &str = "https://w3id.org/ldes#timestampPath";
pub const LDES_VERSION_OF_PATH: &str = "https://w3id.org/ldes#versionOfPath";
pub const PROV: &str = "http://www.w3.org/ns/prov#";
pub const PROV_GENERATED_AT_TIME: &str = "http://www.w3.org/ns/prov#generatedAtTime";
pub const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
pub const RDF_FIRST: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first";
pub const RDF_NIL: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil";
pub const RDF_REST: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest";
pub const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
pub const TREE: &str = "https://w3id.org/tree#";
pub const TREE_EQUAL: &str = "https://w3id.org/tree#EqualToRelation";
pub const TREE_FRAG_KEY: &str = "https://w3id.org/tree#fragmentationKey";
pub const TREE_FRAG_PATH: &str = "https://w3id.org/tree#fragmentationPath";
pub const TREE_GEO_CONTAINS: &str = "https://w3id.org/tree#GeospatiallyContainsRelation";
pub const TREE_GEO_FRAG: &str = "https://w3id.org/tree#GeospatialFragmentation";
pub const TREE_GTE: &str = "https://w3id.org/tree#GreaterThanOrEqualToRelation";
pub const TREE_LT: &str = "https://w3id.org/tree#LessThanRelation";
pub const TREE_MAX_GRANULARITY: &str = "https://w3id.org/tree#maxGranularity";
pub const TREE_MAX_ZOOM: &str = "https://w3id.org/tree#maxZoom";
pub const TREE_MEMBER: &str = "https://w3id.org/tree#member";
pub const TREE_NODE: &str = "https://w3id.org/tree#node";
pub const TREE_NODE_CLASS: &str = "https://w3id.org/tree#Node";
pub const TREE_PAGE_SIZE: &str = "https://w3id.org/tree#pageSize";
pub const TREE_PATH: &str = "https://w3id.org/tree#path";
pub const TREE_REF_FRAG: &str = "https://w3id.org/tree#ReferenceFragmentation";
pub const TREE_RELATION: &str = "https://w3id.org/tree#relation";
pub const TREE_RELATION_CLASS: &str = "https://w3id.org/tree#Relation";
pub const TREE_REMAINING: &str = "https://w3id.org/tree#remainingItems";
pub const TREE_SHAPE: &str = "https://w3id.org/tree#shape";
pub const TREE_STRATEGY: &str = "https://w3id.org/tree#fragmentationStrategy";
pub const TREE_TIME_FRAG: &str = "https://w3id.org/tree#HierarchicalTimeBasedFragmentation";
pub const TREE_VALUE: &str = "https://w3id.org/tree#value";
pub const TREE_VIEW: &str = "https://w3id.org/tree#view";
pub const TREE_VIEW_DESCRIPTION: &str = "https://w3id.org/tree#viewDescription";
pub const TREE_VIEW_DESCRIPTION_CLASS: &str = "https://w3id.org/tree#ViewDescription";
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
pub const XSD_ANY_URI: &str = "http://www.w3.org/2001/XMLSchema#anyURI";
pub const XSD_BOOLEAN: &str = "http://www.w3.org/2001/XMLSchema#boolean";
pub const XSD_DATE_TIME: &str = "http://www.w3.org/2001/XMLSchema#dateTime";
pub const XSD_INTEGER: &str = "http://www.w3.org/2001/XMLSchema#integer";
