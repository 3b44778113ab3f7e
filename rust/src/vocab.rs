//! The IRIs of the vocabularies ldesfrag reads and writes (TREE, LDES, RDF, XSD, GeoSPARQL, …):
//! one place for all of them. Classes end in `_CLASS` where a property has the same local name.

pub(crate) const DCT: &str = "http://purl.org/dc/terms/";
pub(crate) const DCT_IS_PART_OF: &str = "http://purl.org/dc/terms/isPartOf";
pub(crate) const GEO: &str = "http://www.opengis.net/ont/geosparql#";
pub(crate) const GEO_AS_WKT: &str = "http://www.opengis.net/ont/geosparql#asWKT";
pub(crate) const GEO_WKT_LITERAL: &str = "http://www.opengis.net/ont/geosparql#wktLiteral";
pub(crate) const LDES: &str = "https://w3id.org/ldes#";
/// The one property of our own in a view description: the zone of a time fragmentation,
/// written only when it is not UTC (the reference server buckets in UTC and has no such term).
pub(crate) const LDESFRAG_TIMEZONE: &str = "https://w3id.org/ldesfrag#timezone";
pub(crate) const LDES_EVENT_STREAM: &str = "https://w3id.org/ldes#EventStream";
pub(crate) const LDES_IMMUTABLE: &str = "https://w3id.org/ldes#immutable";
pub(crate) const LDES_TIMESTAMP_PATH: &str = "https://w3id.org/ldes#timestampPath";
pub(crate) const LDES_VERSION_OF_PATH: &str = "https://w3id.org/ldes#versionOfPath";
pub(crate) const PROV: &str = "http://www.w3.org/ns/prov#";
pub(crate) const PROV_GENERATED_AT_TIME: &str = "http://www.w3.org/ns/prov#generatedAtTime";
pub(crate) const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
pub(crate) const RDF_FIRST: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first";
pub(crate) const RDF_NIL: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil";
pub(crate) const RDF_REST: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest";
pub(crate) const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
pub(crate) const TREE: &str = "https://w3id.org/tree#";
pub(crate) const TREE_EQUAL: &str = "https://w3id.org/tree#EqualToRelation";
pub(crate) const TREE_FRAG_KEY: &str = "https://w3id.org/tree#fragmentationKey";
pub(crate) const TREE_FRAG_PATH: &str = "https://w3id.org/tree#fragmentationPath";
pub(crate) const TREE_GEO_CONTAINS: &str = "https://w3id.org/tree#GeospatiallyContainsRelation";
pub(crate) const TREE_GEO_FRAG: &str = "https://w3id.org/tree#GeospatialFragmentation";
pub(crate) const TREE_GTE: &str = "https://w3id.org/tree#GreaterThanOrEqualToRelation";
pub(crate) const TREE_LT: &str = "https://w3id.org/tree#LessThanRelation";
pub(crate) const TREE_MAX_GRANULARITY: &str = "https://w3id.org/tree#maxGranularity";
pub(crate) const TREE_MAX_ZOOM: &str = "https://w3id.org/tree#maxZoom";
pub(crate) const TREE_MEMBER: &str = "https://w3id.org/tree#member";
pub(crate) const TREE_NODE: &str = "https://w3id.org/tree#node";
pub(crate) const TREE_NODE_CLASS: &str = "https://w3id.org/tree#Node";
pub(crate) const TREE_PAGE_SIZE: &str = "https://w3id.org/tree#pageSize";
pub(crate) const TREE_PATH: &str = "https://w3id.org/tree#path";
pub(crate) const TREE_REF_FRAG: &str = "https://w3id.org/tree#ReferenceFragmentation";
pub(crate) const TREE_RELATION: &str = "https://w3id.org/tree#relation";
pub(crate) const TREE_RELATION_CLASS: &str = "https://w3id.org/tree#Relation";
pub(crate) const TREE_REMAINING: &str = "https://w3id.org/tree#remainingItems";
pub(crate) const TREE_SHAPE: &str = "https://w3id.org/tree#shape";
pub(crate) const TREE_STRATEGY: &str = "https://w3id.org/tree#fragmentationStrategy";
pub(crate) const TREE_TIME_FRAG: &str = "https://w3id.org/tree#HierarchicalTimeBasedFragmentation";
pub(crate) const TREE_VALUE: &str = "https://w3id.org/tree#value";
pub(crate) const TREE_VIEW: &str = "https://w3id.org/tree#view";
pub(crate) const TREE_VIEW_DESCRIPTION: &str = "https://w3id.org/tree#viewDescription";
pub(crate) const TREE_VIEW_DESCRIPTION_CLASS: &str = "https://w3id.org/tree#ViewDescription";
pub(crate) const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
pub(crate) const XSD_ANY_URI: &str = "http://www.w3.org/2001/XMLSchema#anyURI";
pub(crate) const XSD_BOOLEAN: &str = "http://www.w3.org/2001/XMLSchema#boolean";
pub(crate) const XSD_DATE_TIME: &str = "http://www.w3.org/2001/XMLSchema#dateTime";
pub(crate) const XSD_INTEGER: &str = "http://www.w3.org/2001/XMLSchema#integer";
