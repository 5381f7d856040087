"""Components that belong to no particular paper: folder/list/COCO datasets, generic selectors, COCO and PNG writers."""
