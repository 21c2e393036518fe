// Package imagegc removes the images a host's controller pulled once no
// Unit or Job on the host uses them any more: a Job's old versions, the
// images of deleted Units.
//
// Only images berth pulled are ever removed. The controller's puller
// tells Record.Pulled of each pull (the reference and the image ID), and
// the Record keeps them in a file of the data directory
// (<data-dir>/images.json), so a restart forgets none. Images built on
// the host, loaded, or pulled by anyone else are never in it and never
// touched.
//
// A Collector looks every minute (or every half --image-gc-after, when
// shorter) at the engine's images and containers. An image berth pulled
// is in use while any container on the engine was created from it,
// berth's or not, or while an instance placed on this host has its
// reference in its template (InUse: units.Controller.ImagesInUse). Once it
// has been out of use for --image-gc-after (default DefaultAfter, an
// hour), it is removed: the tags berth pulled are untagged, and, when the
// image has no other tag left (someone tagged it for their own use:
// then it stays, and berth forgets it), its digest references, which
// removes the image. Removal is never forced: an image a container took
// up in the meantime stays.
//
// Metrics (on the registerer given): berth_images_bytes{owner} is the
// size of the engine's images, owner "berth" for those berth pulled and
// "other" for the rest (an image's size counts the layers it shares with
// others, so the sum is an upper bound of the disk they take);
// berth_images_removed_total counts the images removed.
package imagegc
