// `@talkie/faces/testing` for node's resolver (tsconfig's moduleResolution "node" ignores package.json "exports").
module.exports = require('./dist/testing');
